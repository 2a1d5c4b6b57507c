"""The platform keys a client trusts: the keyring (`_keyring`) and its auto-refresh (`_auto_keyring`), the
certificate download that refreshes it (`_certificates`), and the APIv2 merchant mTLS files (`_mtls`). The
public names are re-exported by `wechatpay_chain.keyring` and `wechatpay_chain.certificates`."""
