"""Probe worker: stdlib plus the diagnosed interpreter's own torch, nothing else.

This package is copied into a private directory and run under the interpreter
being diagnosed, so it must never import ``preflight_action`` or any third-party
package other than torch and its companions (torchvision, numpy) under test.
"""

PROTOCOL_VERSION = 1
