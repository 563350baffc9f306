"""Label-batch data: the contract, readers, validation, manifests and PII handling."""
