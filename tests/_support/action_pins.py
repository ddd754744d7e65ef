"""The one table of third-party action pins (issue 21): every `uses: owner/repo@<40-hex SHA>` in the
repository (examples/, docs/, README.md, integrations/, .github/, tests/) must be a commit listed here, and a
`# vX.Y.Z` comment next to it must name that commit's version. tests/test_action_pins.py enforces it.

Each SHA was checked against the upstream repository on 2026-12-07 (a mirror of github.com/<repo>:
`git rev-parse <tag>^{commit}`); all agreed with what the files already said. To bump a pin: change it here
and in every file the test names, after checking the tag upstream the same way.
"""

#: (owner/repo, version tag) -> the tag's commit.
PINS: dict[tuple[str, str], str] = {
    ("actions/checkout", "v5.0.0"): "08c6903cd8c0fde910a37f88322edcfb5dd907a8",
    ("actions/download-artifact", "v5.0.0"): "634f93cb2916e3fdff6788551b99b062d0335ce0",
    ("actions/download-artifact", "v4.3.0"): "d3f86a106a0bac45b974a628896c90dbdf5c8093",
    ("actions/upload-artifact", "v4.6.2"): "ea165f8d65b6e75b540449e92b4886f43607fa02",
    ("actions/setup-node", "v4.4.0"): "49933ea5288caeca8642d1e84afbd3f7d6820020",
    ("actions/setup-node", "v5.0.0"): "a0853c24544627f65ddf259abe73b1d18a591444",
    ("actions/setup-python", "v6.0.0"): "e797f83bcb11b83ae66e0230d6156d7c80228e7c",
    ("actions/cache", "v4.3.0"): "0057852bfaa89a56745cba8c7296529d2fc39830",
    ("actions/attest-build-provenance", "v3.0.0"): "977bb373ede98d70efdf65b84cb5f73e068dcc2a",
    ("actions/attest-sbom", "v3.0.0"): "4651f806c01d8637787e274ac3bdf724ef169f34",
    ("anchore/sbom-action", "v0.24.0"): "e22c389904149dbc22b58101806040fa8d37a610",
    ("docker/build-push-action", "v6.18.0"): "263435318d21b8e681c14492fe198d362a7d2c83",
    ("docker/login-action", "v3.4.0"): "74a5d142397b4f367a81961eba4e8cd7edddf772",
    ("docker/setup-buildx-action", "v3.11.1"): "e468171a9de216ec08956ac3ada2f0791b6bd435",
    ("docker/setup-qemu-action", "v3.6.0"): "29109295f81e9208d7d86ff1c6c12d2833863392",
}

#: The placeholder SHA the docs and tests use for a commit that is not real (the reader's own release commit,
#: a made-up action): never checked.
PLACEHOLDER = "0123456789abcdef0123456789abcdef01234567"
