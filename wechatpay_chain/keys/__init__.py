"""The platform keys a client trusts: the keyring and its auto-refresh (`keyring`), and the certificate
download that refreshes it (`certificates`)."""
