"""npm-gatekeeper: gate `npm publish` behind CI, a green build and a reviewed diff."""

__version__ = "0.1.0"
