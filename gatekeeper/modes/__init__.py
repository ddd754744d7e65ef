"""One orchestrator per mode, each reading top to bottom as the steps of that mode: publish (publish and
check), pull_request, watch, diff (the local CLI diff), notify (`--from-report`, retired:
refuses). No mode imports another."""
