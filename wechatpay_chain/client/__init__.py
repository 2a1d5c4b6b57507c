"""The client: the chain of nodes (`chain`: PHP's Builder and chained decorator), the driver that runs a call's
flow through a transport (`driver`), the validated config (`config`) and the RSA thread pool (`crypto_pool`)."""
