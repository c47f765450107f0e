"""What changed between two runs: the inventory's parts (parts), how two of them differ (compare), two reports or
history records side by side, grouped and ordered by how likely each change explains a failure (engine), rendered
(render) for ``preflight-diff`` (cli), the PR delta, the history's trends and the matrix dashboard."""
