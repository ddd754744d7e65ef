"""Which policy decides and what it allows: policy loading, the trusted policy, safety floors, the review
step, and the credential decisions (token or OIDC trusted publishing) of the publish step."""
