"""The client: the chain of nodes (`_chain`: PHP's Builder and chained decorator), the driver that runs a call's
flow through a transport (`_driver`), the validated config (`_config`), config files (`settings`, public:
`load_config`) and the RSA thread pool (`_crypto_pool`). Users reach these through `wechatpay_chain`."""
