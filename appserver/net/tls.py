"""TLS settings to an ``ssl.SSLContext``, built once per worker.

``server_context(cfg)`` returns None when ``certfile`` is unset, else a server
context: the certificate chain (``certfile``, ``keyfile``), the minimum
version (``tls-min-version``), ``ciphers`` (OpenSSL cipher list for TLS 1.2;
TLS 1.3 suites are OpenSSL's), client certificates checked against
``ca-certs`` as ``cert-reqs`` says (``none``, ``optional``, ``required``:
mutual TLS), and ALPN ``http/1.1``. A config file's ``ssl_context(config,
default_ssl_context_factory)`` hook (Gunicorn's) may change that context or
return another. Each worker calls it after the fork, so a
HUP (new workers) rereads certificates that were renewed on disk. ``check(cfg)``
builds one in the arbiter first, so a missing or mismatched file is a
``ConfigError`` at start (and a failed reload on HUP), not workers that cannot
boot.

The ``ssl`` module (and OpenSSL with it) is imported only when TLS is on: a
server without a certificate neither pays for it at start nor carries it in
every worker's memory.
"""

from appserver.errors import ConfigError

VERSIONS = {"1.2": "TLSv1_2", "1.3": "TLSv1_3"}           # ssl.TLSVersion names
CERT_REQS = {"none": "CERT_NONE", "optional": "CERT_OPTIONAL",
             "required": "CERT_REQUIRED"}                  # ssl.VerifyMode names


def server_context(cfg):
    """The context for ``cfg``, or None without ``certfile``."""
    if not cfg.certfile:
        if cfg.keyfile or cfg.ca_certs or cfg.cert_reqs != "none":
            raise ConfigError("keyfile, ca-certs and cert-reqs need certfile "
                              "(TLS is on only with a certificate)")
        return None
    if "ssl_context" in cfg.hooks:
        from appserver.config import hooks
        return hooks.call_strict(cfg.hooks, "ssl_context", cfg,
                                 lambda: _default_context(cfg))
    return _default_context(cfg)


def _default_context(cfg):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion[VERSIONS[cfg.tls_min_version]]
    _load(context.load_cert_chain, "certfile/keyfile", cfg.certfile, cfg.keyfile)
    _clients(context, cfg)
    if cfg.ciphers:
        _load(context.set_ciphers, "ciphers", cfg.ciphers)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _clients(context, cfg):
    if cfg.cert_reqs != "none" and not cfg.ca_certs:
        raise ConfigError("cert-reqs %s needs ca-certs (the CA bundle that "
                          "client certificates are checked against)" % cfg.cert_reqs)
    if cfg.ca_certs:
        _load(context.load_verify_locations, "ca-certs", cfg.ca_certs)
    context.verify_mode = getattr(ssl_module(), CERT_REQS[cfg.cert_reqs])


def ssl_module():
    """The ``ssl`` module, imported on first use."""
    import ssl
    return ssl


def _load(method, what, *args):
    try:
        method(*args)
    except (OSError, ValueError) as exc:        # ssl.SSLError is an OSError
        shown = ", ".join(str(a) for a in args if a)
        raise ConfigError("%s (%s): %s" % (what, shown, _reason(exc))) from None


def _reason(exc):
    reason = getattr(exc, "reason", None)
    if reason:
        return reason.lower().replace("_", " ")
    return getattr(exc, "strerror", None) or (exc.args[0] if exc.args else str(exc))


def check(cfg):
    """Build the context once to report a bad setting or file early."""
    server_context(cfg)
