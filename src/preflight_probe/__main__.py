from preflight_probe.worker import main

raise SystemExit(main())
