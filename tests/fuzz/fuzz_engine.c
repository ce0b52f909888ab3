/* libFuzzer harness: the bytes are what a peer sends. FUZZ_SERVER picks the
 * engine's role. Configs are loaded once; each input gets a fresh engine.
 * The engine must never crash, leak or loop: it either waits for more bytes
 * or fails with an alert. Build and run with `make fuzz`. */
#include <stdio.h>
#include <stdlib.h>

#include "tlsengine.h"

static tls_config *cfg;

static void setup(void)
{
    const char *pki = getenv("PKI");
    static char cert[512], key[512], ca[512];
    snprintf(cert, sizeof cert, "%s/server.pem", pki ? pki : "build/pki");
    snprintf(key, sizeof key, "%s/server.key", pki ? pki : "build/pki");
    snprintf(ca, sizeof ca, "%s/ca.pem", pki ? pki : "build/pki");
    tls_options o;
    tls_options_init(&o);
    o.versions = TLS_VMASK_SSL3 | TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12 | TLS_VMASK_TLS13;
    o.ciphers = "ALL";
    o.alpn = "h2,http/1.1";
#ifdef FUZZ_SERVER
    o.certfile = cert;
    o.keyfile = key;
    o.verify = TLS_VERIFY_PEER;
    o.cacertfile = ca;
    bool server = true;
#else
    o.verify = TLS_VERIFY_NONE;
    o.server_name = "localhost";
    bool server = false;
#endif
    tls_error err;
    if (tls_config_new(&o, server, &cfg, &err) != TLS_OK) {
        char m[300];
        fprintf(stderr, "fuzz setup: %s (set PKI to the test PKI folder)\n", tls_format_error(&err, m, sizeof m));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        setup();
    tls_engine *e = NULL;
    if (tls_engine_new(cfg, NULL, &e, NULL) != TLS_OK)
        abort();
    size_t len;
    while (tls_engine_output(e, &len))
        tls_engine_output_done(e, len);
    /* deliver in two pieces to exercise reassembly */
    size_t cut = size ? data[0] % (size + 1) : 0;
    size_t used = 0;
    tls_engine_feed(e, data, cut, &used);
    tls_engine_feed(e, data + cut, size - cut, &used);
    uint8_t buf[256];
    size_t got;
    while (tls_engine_read(e, buf, sizeof buf, &got) == TLS_OK && got)
        ;
    tls_engine_feed_eof(e);
    tls_engine_free(e);
    return 0;
}
