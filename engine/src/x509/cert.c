/* Certificates, keys, CA stores and DH parameters from the seed's options;
 * peer chain validation with libcrypto's X509 store, reported through the
 * seed's verify_fun events.
 *
 * Validation runs in two passes. libcrypto builds and checks the chain while
 * our callback only records every error (and tells libcrypto to go on), so
 * the whole chain is examined. Then the recorded events are replayed to the
 * verify fun in the seed's order: trust anchor first, peer last, each
 * certificate's problems before its `valid` / `valid_peer` event. The first
 * TLS_VF_FAIL ends validation. */
#include "cert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define MAX_FILE_SIZE (64u << 20) /* no sane certificate, key or CA bundle is larger */

/* ---- files -------------------------------------------------------------- */

/* Reads a whole file. Returns 0 or an errno value. */
static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return e;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return EISDIR;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > MAX_FILE_SIZE) {
        close(fd);
        return EFBIG;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            OPENSSL_cleanse(buf, len);
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap) { /* the file grew while we read it */
            OPENSSL_cleanse(buf, len);
            free(buf);
            close(fd);
            return EFBIG;
        }
    }
    close(fd);
    *out = buf;
    *out_len = len;
    return 0;
}

/* Key files hold secrets: wipe before freeing. */
static void free_file(uint8_t *buf, size_t len)
{
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}

static bool looks_pem(const uint8_t *p, size_t len)
{
    return memmem(p, len, "-----BEGIN ", 11) != NULL;
}

/* Never prompts: without a configured password an encrypted key fails. */
static int password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u;
    if (!pw || size <= 0)
        return -1;
    size_t n = strlen(pw);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pw, n);
    return (int)n;
}

/* One DER certificate that must fill exactly [p, p+len). */
static X509 *der_to_x509(const uint8_t *p, size_t len)
{
    if (!p || !len || len > LONG_MAX)
        return NULL;
    const uint8_t *q = p;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    if (x && q != p + len) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* Every certificate of a PEM buffer (other PEM blocks are skipped), or the
 * one certificate of a DER buffer. NULL (and nothing on *out) when none. */
static STACK_OF(X509) *certs_from_buffer(const uint8_t *p, size_t len)
{
    STACK_OF(X509) *sk = len <= INT_MAX ? sk_X509_new_null() : NULL;
    if (!sk)
        return NULL;
    if (looks_pem(p, len)) {
        BIO *bio = BIO_new_mem_buf(p, (int)len);
        X509 *x;
        while (bio && (x = PEM_read_bio_X509(bio, NULL, password_cb, NULL)) != NULL) {
            if (!sk_X509_push(sk, x)) {
                X509_free(x);
                break;
            }
        }
        BIO_free(bio);
    } else {
        X509 *x = der_to_x509(p, len);
        if (x && !sk_X509_push(sk, x))
            X509_free(x);
    }
    ERR_clear_error(); /* the reader's end-of-input shows up as an error */
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

/* A private key from PEM (skipping certificates in the same file) or DER
 * (PKCS#8, encrypted PKCS#8, or the algorithm's own format). */
static EVP_PKEY *key_from_buffer(const uint8_t *p, size_t len, const char *password)
{
    EVP_PKEY *pkey = NULL;
    if (len > INT_MAX)
        return NULL;
    if (looks_pem(p, len)) {
        BIO *bio = BIO_new_mem_buf(p, (int)len);
        if (bio)
            pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, password_cb, (void *)password, NULL, NULL);
        BIO_free(bio);
    } else {
        OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", NULL, NULL,
                                                               EVP_PKEY_KEYPAIR, NULL, NULL);
        if (dctx) {
            if (password)
                OSSL_DECODER_CTX_set_passphrase(dctx, (const unsigned char *)password, strlen(password));
            else
                OSSL_DECODER_CTX_set_pem_password_cb(dctx, password_cb, NULL);
            const unsigned char *q = p;
            size_t left = len;
            if (!OSSL_DECODER_from_data(dctx, &q, &left) || left != 0) {
                EVP_PKEY_free(pkey);
                pkey = NULL;
            }
            OSSL_DECODER_CTX_free(dctx);
        }
    }
    ERR_clear_error();
    return pkey;
}

/* ---- our credentials ---------------------------------------------------- */

void tls_cred_free(tls_cred *cred)
{
    if (!cred)
        return;
    sk_X509_pop_free(cred->chain, X509_free);
    EVP_PKEY_free(cred->key);
    for (size_t i = 0; i < cred->n; i++)
        OPENSSL_free(cred->der[i]);
    free(cred->der);
    free(cred->der_len);
    memset(cred, 0, sizeof *cred);
}

int tls_cred_load(const tls_options *o, tls_cred *cred, tls_error *err)
{
    memset(cred, 0, sizeof *cred);
    bool have_cert = (o->cert && o->cert_len) || o->certfile;
    bool have_key = (o->key && o->key_len) || o->keyfile;
    if (!have_cert) {
        if (have_key)
            return tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: a key without cert or certfile",
                               o->key && o->key_len ? "key" : "keyfile",
                               o->key && o->key_len ? "(DER)" : o->keyfile);
        return TLS_OK;
    }

    /* the certificate chain */
    bool der_cert = o->cert && o->cert_len;
    const char *cname = der_cert ? "(DER)" : o->certfile;
    const char *copt = der_cert ? "cert" : "certfile";
    if (der_cert) {
        X509 *x = der_to_x509(o->cert, o->cert_len);
        if (!x)
            return tls_err_set(err, TLS_E_CONFIG, -1, "cert (DER): not a DER certificate");
        cred->chain = sk_X509_new_null();
        if (!cred->chain || !sk_X509_push(cred->chain, x)) {
            X509_free(x);
            tls_cred_free(cred);
            return tls_err_set(err, TLS_E_NOMEM, -1, "cert (DER)");
        }
    } else {
        uint8_t *buf;
        size_t len;
        int e = read_file(o->certfile, &buf, &len);
        if (e)
            return tls_err_set(err, TLS_E_CONFIG, -1, "certfile %s: %s", o->certfile, strerror(e));
        cred->chain = certs_from_buffer(buf, len);
        free_file(buf, len);
        if (!cred->chain)
            return tls_err_set(err, TLS_E_CONFIG, -1, "certfile %s: no certificate found", o->certfile);
    }

    /* the key: key (DER) > keyfile > certfile */
    int rc = TLS_OK;
    const char *kopt, *kname;
    uint8_t *kbuf = NULL;
    size_t klen = 0;
    bool encrypted = false;
    if (o->key && o->key_len) {
        kopt = "key";
        kname = "(DER)";
        cred->key = key_from_buffer(o->key, o->key_len, o->password);
    } else if (o->keyfile || o->certfile) {
        kopt = o->keyfile ? "keyfile" : "certfile";
        kname = o->keyfile ? o->keyfile : o->certfile;
        int e = read_file(kname, &kbuf, &klen);
        if (e) {
            rc = tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: %s", kopt, kname, strerror(e));
            goto fail;
        }
        encrypted = memmem(kbuf, klen, "ENCRYPTED", 9) != NULL;
        cred->key = key_from_buffer(kbuf, klen, o->password);
        free_file(kbuf, klen);
    } else {
        rc = tls_err_set(err, TLS_E_CONFIG, -1, "cert (DER) given without key or keyfile");
        goto fail;
    }
    if (!cred->key) {
        if (o->password)
            rc = tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: wrong password or not a private key", kopt, kname);
        else if (encrypted)
            rc = tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: the key is encrypted and no password is set",
                             kopt, kname);
        else
            rc = tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: no private key found", kopt, kname);
        goto fail;
    }
    if (X509_check_private_key(sk_X509_value(cred->chain, 0), cred->key) != 1) {
        ERR_clear_error();
        rc = tls_err_set(err, TLS_E_CONFIG, -1, "%s %s does not match the certificate of %s %s", kopt,
                         kname, copt, cname);
        goto fail;
    }

    /* DER of each certificate, ready for the Certificate message */
    cred->n = (size_t)sk_X509_num(cred->chain);
    cred->der = calloc(cred->n, sizeof *cred->der);
    cred->der_len = calloc(cred->n, sizeof *cred->der_len);
    if (!cred->der || !cred->der_len) {
        cred->n = 0;
        rc = tls_err_set(err, TLS_E_NOMEM, -1, "%s %s", copt, cname);
        goto fail;
    }
    for (size_t i = 0; i < cred->n; i++) {
        int n = i2d_X509(sk_X509_value(cred->chain, (int)i), &cred->der[i]);
        if (n <= 0) {
            rc = tls_err_set(err, TLS_E_NOMEM, -1, "%s %s: cannot encode certificate %zu", copt, cname, i);
            goto fail;
        }
        cred->der_len[i] = (size_t)n;
    }
    return TLS_OK;
fail:
    tls_cred_free(cred);
    return rc;
}

/* ---- trusted CAs ---------------------------------------------------------- */

int tls_ca_load(const tls_options *o, X509_STORE **store, size_t *n_loaded, tls_error *err)
{
    *store = X509_STORE_new();
    *n_loaded = 0;
    if (!*store)
        return tls_err_set(err, TLS_E_NOMEM, -1, "CA store");
    if (o->cacerts && o->n_cacerts) {
        for (size_t i = 0; i < o->n_cacerts; i++) {
            X509 *x = der_to_x509(o->cacerts[i], o->cacerts_len ? o->cacerts_len[i] : 0);
            if (!x) {
                X509_STORE_free(*store);
                *store = NULL;
                return tls_err_set(err, TLS_E_CONFIG, -1, "cacerts[%zu]: not a DER certificate", i);
            }
            int ok = X509_STORE_add_cert(*store, x);
            X509_free(x);
            if (!ok) {
                ERR_clear_error();
                X509_STORE_free(*store);
                *store = NULL;
                return tls_err_set(err, TLS_E_NOMEM, -1, "cacerts[%zu]: cannot add to the store", i);
            }
            (*n_loaded)++;
        }
        return TLS_OK;
    }
    if (!o->cacertfile)
        return TLS_OK;
    uint8_t *buf;
    size_t len;
    int e = read_file(o->cacertfile, &buf, &len);
    if (e) {
        X509_STORE_free(*store);
        *store = NULL;
        return tls_err_set(err, TLS_E_CONFIG, -1, "cacertfile %s: %s", o->cacertfile, strerror(e));
    }
    STACK_OF(X509) *sk = certs_from_buffer(buf, len);
    free(buf);
    if (!sk) {
        X509_STORE_free(*store);
        *store = NULL;
        return tls_err_set(err, TLS_E_CONFIG, -1, "cacertfile %s: no certificate found", o->cacertfile);
    }
    int rc = TLS_OK;
    for (int i = 0; i < sk_X509_num(sk); i++) {
        if (!X509_STORE_add_cert(*store, sk_X509_value(sk, i))) {
            ERR_clear_error();
            rc = tls_err_set(err, TLS_E_NOMEM, -1, "cacertfile %s: cannot add certificate %d", o->cacertfile, i);
            X509_STORE_free(*store);
            *store = NULL;
            *n_loaded = 0;
            break;
        }
        (*n_loaded)++;
    }
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

/* ---- DH parameters -------------------------------------------------------- */

/* DH parameters in DER: PKCS#3 (p, g) or X9.42 (p, q, g), filling the buffer. */
static EVP_PKEY *dh_from_der(const uint8_t *der, size_t len)
{
    static const int types[] = {EVP_PKEY_DH, EVP_PKEY_DHX};
    if (len > LONG_MAX)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        const uint8_t *q = der;
        EVP_PKEY *p = d2i_KeyParams(types[i], NULL, &q, (long)len);
        if (p && q == der + len)
            return p;
        EVP_PKEY_free(p);
    }
    return NULL;
}

int tls_dh_load(const tls_options *o, EVP_PKEY **params, tls_error *err)
{
    *params = NULL;
    const char *opt, *what;
    EVP_PKEY *p = NULL;
    if (o->dh && o->dh_len) {
        opt = "dh";
        what = "(DER)";
        p = dh_from_der(o->dh, o->dh_len);
    } else if (o->dhfile) {
        opt = "dhfile";
        what = o->dhfile;
        uint8_t *buf;
        size_t len;
        int e = read_file(o->dhfile, &buf, &len);
        if (e)
            return tls_err_set(err, TLS_E_CONFIG, -1, "dhfile %s: %s", o->dhfile, strerror(e));
        if (looks_pem(buf, len)) {
            BIO *bio = BIO_new_mem_buf(buf, (int)len); /* len <= MAX_FILE_SIZE */
            if (bio)
                p = PEM_read_bio_Parameters_ex(bio, NULL, NULL, NULL);
            BIO_free(bio);
        } else {
            p = dh_from_der(buf, len);
        }
        free(buf);
    } else {
        return TLS_OK;
    }
    ERR_clear_error();
    if (!p || (!EVP_PKEY_is_a(p, "DH") && !EVP_PKEY_is_a(p, "DHX"))) {
        EVP_PKEY_free(p);
        return tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: no DH parameters found", opt, what);
    }
    int bits = EVP_PKEY_get_bits(p);
    if (bits < TLS_DH_MIN_BITS) {
        EVP_PKEY_free(p);
        return tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: the DH group has %d bits, at least %d are required",
                           opt, what, bits, TLS_DH_MIN_BITS);
    }
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, p, NULL);
    int ok = pc && EVP_PKEY_param_check_quick(pc) == 1;
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(p);
        return tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: the DH parameters are invalid", opt, what);
    }
    *params = p;
    return TLS_OK;
}

EVP_PKEY *tls_cert_pubkey(const uint8_t *der, size_t len)
{
    X509 *x = der_to_x509(der, len);
    if (!x) {
        ERR_clear_error();
        return NULL;
    }
    EVP_PKEY *k = X509_get_pubkey(x);
    X509_free(x);
    return k;
}

/* ---- the seed's default verify funs --------------------------------------- */

tls_verify_result tls_verify_fun_default_peer(const uint8_t *der, size_t len, int depth,
                                              const tls_verify_event *ev, void *state,
                                              tls_bad_cert *fail_reason)
{
    (void)der, (void)len, (void)depth, (void)state;
    switch (ev->kind) {
    case TLS_EVENT_BAD_CERT:
        *fail_reason = ev->reason;
        return TLS_VF_FAIL;
    case TLS_EVENT_EXTENSION: return TLS_VF_UNKNOWN;
    case TLS_EVENT_VALID:
    case TLS_EVENT_VALID_PEER: return TLS_VF_VALID;
    }
    return TLS_VF_FAIL;
}

tls_verify_result tls_verify_fun_default_none(const uint8_t *der, size_t len, int depth,
                                              const tls_verify_event *ev, void *state,
                                              tls_bad_cert *fail_reason)
{
    (void)der, (void)len, (void)depth, (void)state;
    switch (ev->kind) {
    case TLS_EVENT_BAD_CERT:
        if (ev->reason == TLS_BAD_CERT_UNKNOWN_CA)
            return TLS_VF_VALID;
        *fail_reason = ev->reason;
        return TLS_VF_FAIL;
    case TLS_EVENT_EXTENSION: return TLS_VF_UNKNOWN;
    case TLS_EVENT_VALID:
    case TLS_EVENT_VALID_PEER: return TLS_VF_VALID;
    }
    return TLS_VF_FAIL;
}

/* ---- chain validation ------------------------------------------------------- */

#define VT_MAX_EVENTS 64
#define VT_EXTENSION TLS_BAD_CERT_NONE /* recorded marker: unhandled critical extension */

typedef struct vt_event {
    int depth;
    int xerr;            /* libcrypto's X509_V_ERR_* (0 for our own checks) */
    tls_bad_cert reason; /* VT_EXTENSION: scan the certificate's extensions */
} vt_event;

typedef struct vt_state {
    vt_event ev[VT_MAX_EVENTS];
    size_t n;
    bool overflow;
} vt_state;

/* libcrypto's verification errors as the seed's bad_cert reasons. */
static tls_bad_cert map_x509_error(int e)
{
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        return TLS_BAD_CERT_CERT_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        return TLS_BAD_CERT_UNKNOWN_CA;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return TLS_BAD_CERT_INVALID_SIGNATURE;
    case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
    case X509_V_ERR_AKID_SKID_MISMATCH:
    case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
        return TLS_BAD_CERT_INVALID_ISSUER;
    case X509_V_ERR_INVALID_CA:
        return TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
        return TLS_BAD_CERT_INVALID_KEY_USAGE;
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
        return TLS_BAD_CERT_NAME_NOT_PERMITTED;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return TLS_BAD_CERT_MAX_PATH_LENGTH;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return TLS_BAD_CERT_HOSTNAME_CHECK_FAILED;
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
        return VT_EXTENSION;
    default:
        /* anything else is still a bad certificate: fail closed */
        return TLS_BAD_CERT_INVALID_ISSUER;
    }
}

static void vt_add(vt_state *st, int depth, int xerr, tls_bad_cert reason)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->ev[i].depth == depth && st->ev[i].reason == reason)
            return; /* libcrypto may report one problem more than once */
    if (st->n == VT_MAX_EVENTS) {
        st->overflow = true;
        return;
    }
    st->ev[st->n++] = (vt_event){depth, xerr, reason};
}

/* Records each error and lets libcrypto go on: the replay decides. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    vt_state *st = X509_STORE_CTX_get_app_data(ctx);
    if (ok || !st)
        return ok;
    int e = X509_STORE_CTX_get_error(ctx);
    vt_add(st, X509_STORE_CTX_get_error_depth(ctx), e, map_x509_error(e));
    return 1;
}

static const char *reason_phrase(tls_bad_cert r, int xerr)
{
    switch (r) {
    case TLS_BAD_CERT_CERT_EXPIRED:
        return xerr == X509_V_ERR_CERT_NOT_YET_VALID ? "is not yet valid" : "has expired";
    case TLS_BAD_CERT_UNKNOWN_CA:
        return xerr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || xerr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
                   ? "is self-signed and not trusted"
                   : "is not issued by a trusted CA";
    case TLS_BAD_CERT_INVALID_SIGNATURE: return "has an invalid signature";
    case TLS_BAD_CERT_INVALID_ISSUER: return "has an invalid issuer";
    case TLS_BAD_CERT_NAME_NOT_PERMITTED: return "has a name its issuer may not certify";
    case TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT: return "acts as a CA without basicConstraints CA:true";
    case TLS_BAD_CERT_INVALID_KEY_USAGE: return "is not allowed for this use (keyUsage / extendedKeyUsage)";
    case TLS_BAD_CERT_HOSTNAME_CHECK_FAILED: return "does not match the host name";
    case TLS_BAD_CERT_MAX_PATH_LENGTH: return "is beyond the allowed chain depth";
    case TLS_BAD_CERT_USER: return "was rejected by the verify fun";
    case TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION: return "has an unhandled critical extension";
    default: return "is not acceptable";
    }
}

/* "CN=localhost" (RFC 2253 order), cut to fit. */
static void subject_text(X509 *x, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(b, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

static int fail_at(tls_error *err, X509 *x, int depth, tls_bad_cert reason, const char *phrase,
                   const char *extra)
{
    char subj[96];
    subject_text(x, subj, sizeof subj);
    int rc = tls_err_set(err, TLS_E_BAD_CERT, tls_bad_cert_alert(reason, TLS_TLS12),
                         "certificate '%s' (depth %d) %s%s", subj, depth, phrase, extra ? extra : "");
    if (err)
        err->bad_cert = reason;
    return rc;
}

static bool hostname_ok(X509 *leaf, const char *name)
{
    char ip[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(name);
    /* "[::1]" as written in URLs */
    if (n > 2 && name[0] == '[' && name[n - 1] == ']' && n - 2 < sizeof ip) {
        memcpy(ip, name + 1, n - 2);
        ip[n - 2] = '\0';
        name = ip;
    }
    unsigned char addr[16];
    int r;
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        r = X509_check_ip_asc(leaf, name, 0);
    else
        r = X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
    ERR_clear_error();
    return r == 1;
}

typedef struct replay {
    const tls_verify_ctx *vc;
    tls_verify_fun fun;
    tls_error *err;
} replay;

/* Calls the fun for one event; returns TLS_OK to go on or the failure. */
static int deliver(replay *rp, X509 *x, const uint8_t *der, size_t der_len, int depth,
                   const tls_verify_event *ev, int xerr)
{
    tls_bad_cert why = TLS_BAD_CERT_NONE;
    tls_verify_result r = rp->fun(der, der_len, depth, ev, rp->vc->fun_state, &why);
    if (r == TLS_VF_VALID)
        return TLS_OK;
    if (r == TLS_VF_UNKNOWN) {
        /* unknown is fine for a problem the fun does not judge, but an
         * unrecognised critical extension must be understood by someone */
        if (ev->kind != TLS_EVENT_EXTENSION)
            return TLS_OK;
        char extra[120];
        snprintf(extra, sizeof extra, " %s", ev->ext_oid);
        return fail_at(rp->err, x, depth, TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION,
                       "has an unhandled critical extension", extra);
    }
    if (r != TLS_VF_FAIL)
        return fail_at(rp->err, x, depth, TLS_BAD_CERT_USER, "was rejected: the verify fun returned garbage",
                       NULL);
    if (ev->kind == TLS_EVENT_BAD_CERT) {
        if (why == TLS_BAD_CERT_NONE || why == ev->reason) {
            const char *extra = NULL;
            char host[120];
            if (ev->reason == TLS_BAD_CERT_HOSTNAME_CHECK_FAILED) {
                snprintf(host, sizeof host, " '%.100s'", rp->vc->hostname);
                extra = host;
            } else if (ev->reason == TLS_BAD_CERT_MAX_PATH_LENGTH) {
                snprintf(host, sizeof host, " %d", rp->vc->depth);
                extra = host;
            }
            return fail_at(rp->err, x, depth, ev->reason, reason_phrase(ev->reason, xerr), extra);
        }
    } else if (ev->kind == TLS_EVENT_EXTENSION) {
        char extra[120];
        snprintf(extra, sizeof extra, " (critical extension %s)", ev->ext_oid);
        return fail_at(rp->err, x, depth, why == TLS_BAD_CERT_NONE ? TLS_BAD_CERT_USER : why,
                       "was rejected by the verify fun", extra);
    }
    if (why == TLS_BAD_CERT_NONE)
        why = TLS_BAD_CERT_USER;
    char extra[64];
    snprintf(extra, sizeof extra, " (%s)", tls_bad_cert_name(why));
    return fail_at(rp->err, x, depth, why, "was rejected by the verify fun", extra);
}

/* Extension events for every critical extension libcrypto does not handle. */
static int deliver_extensions(replay *rp, X509 *x, const uint8_t *der, size_t der_len, int depth,
                              bool *any)
{
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *ext = X509_get_ext(x, i);
        if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext))
            continue;
        char oid[80];
        if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1) <= 0)
            snprintf(oid, sizeof oid, "?");
        const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
        tls_verify_event ev = {.kind = TLS_EVENT_EXTENSION,
                               .ext_oid = oid,
                               .ext_critical = true,
                               .ext_der = ASN1_STRING_get0_data(val),
                               .ext_len = (size_t)ASN1_STRING_length(val)};
        *any = true;
        int rc = deliver(rp, x, der, der_len, depth, &ev, 0);
        if (rc)
            return rc;
    }
    return TLS_OK;
}

int tls_verify_chain(const tls_verify_ctx *vc, const uint8_t *const *der, const size_t *der_len, size_t n,
                     tls_error *err)
{
    if (n == 0) {
        int rc = tls_err_set(err, TLS_E_BAD_CERT, tls_bad_cert_alert(TLS_BAD_CERT_NO_PEER_CERT, TLS_TLS12),
                             "the peer sent no certificate");
        if (err)
            err->bad_cert = TLS_BAD_CERT_NO_PEER_CERT;
        return rc;
    }
    int rc = TLS_OK;
    X509 **peer = calloc(n, sizeof *peer);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    vt_state *st = calloc(1, sizeof *st);
    X509_STORE *empty = NULL;
    if (!peer || !untrusted || !ctx || !st) {
        rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        peer[i] = der_to_x509(der[i], der_len[i]);
        if (!peer[i]) {
            ERR_clear_error();
            rc = tls_err_set(err, TLS_E_ALERT_SENT, TLS_ALERT_BAD_CERTIFICATE,
                             "certificate %zu of the peer's chain is not a valid DER X.509 certificate", i);
            goto out;
        }
        if (i > 0 && !sk_X509_push(untrusted, peer[i])) {
            rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
            goto out;
        }
    }
    X509_STORE *store = vc->store;
    if (!store && !(store = empty = X509_STORE_new())) {
        rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
        goto out;
    }
    int depth = vc->depth < 0 ? 0 : vc->depth;
    if (!X509_STORE_CTX_init(ctx, store, peer[0], untrusted)) {
        rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
        goto out;
    }
    X509_STORE_CTX_set_app_data(ctx, st);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    X509_STORE_CTX_set_purpose(ctx, vc->peer_is_server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
    /* libcrypto's depth counts intermediates (a chain of depth + 2), the
     * seed's counts every certificate above the peer (depth + 1). libcrypto
     * gets room for two more, so that a chain a little too long is still
     * built to its anchor and the limit is checked on it below; its own limit
     * only bounds the work on absurd chains. */
    X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx), depth < 1000 ? depth + 1 : depth);
    int ok = X509_verify_cert(ctx);
    if (ok != 1 && st->n == 0) {
        /* failed without telling the callback (out of memory, ...): fail closed */
        int e = X509_STORE_CTX_get_error(ctx);
        vt_add(st, X509_STORE_CTX_get_error_depth(ctx), e,
               e == X509_V_OK ? TLS_BAD_CERT_INVALID_ISSUER : map_x509_error(e));
    }
    ERR_clear_error();

    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int len = chain ? sk_X509_num(chain) : 0;
    if (len <= 0) {
        rc = tls_err_set(err, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "certificate validation built no chain");
        goto out;
    }
    /* the seed's depth: peer = 0, its issuer = 1, ... One max-path event,
     * on the first certificate beyond the limit. */
    bool too_long = len - 1 > depth;
    for (size_t i = 0; i < st->n; i++)
        if (st->ev[i].reason == TLS_BAD_CERT_MAX_PATH_LENGTH && st->ev[i].xerr != X509_V_ERR_PATH_LENGTH_EXCEEDED)
            too_long = true, st->ev[i].depth = -1; /* replaced below */
    if (too_long) {
        /* first: the other problems of that certificate matter less */
        vt_add(st, depth + 1 < len ? depth + 1 : len - 1, X509_V_ERR_CERT_CHAIN_TOO_LONG,
               TLS_BAD_CERT_MAX_PATH_LENGTH);
        if (!st->overflow && st->n > 1) {
            vt_event last = st->ev[st->n - 1];
            memmove(&st->ev[1], &st->ev[0], (st->n - 1) * sizeof st->ev[0]);
            st->ev[0] = last;
        }
    }
    if (st->overflow) {
        rc = fail_at(err, peer[0], 0, TLS_BAD_CERT_INVALID_ISSUER, "has too many problems to list", NULL);
        goto out;
    }

    replay rp = {vc, vc->fun ? vc->fun
                     : vc->verify == TLS_VERIFY_PEER ? tls_verify_fun_default_peer
                                                     : tls_verify_fun_default_none,
                 err};
    for (int d = len - 1; d >= 0 && rc == TLS_OK; d--) {
        X509 *x = sk_X509_value(chain, d);
        /* the DER the peer sent, or an encoding of the store's certificate */
        const uint8_t *xder = NULL;
        size_t xlen = 0;
        uint8_t *owned = NULL;
        for (size_t i = 0; i < n && !xder; i++)
            if (peer[i] == x)
                xder = der[i], xlen = der_len[i];
        if (!xder) {
            int l = i2d_X509(x, &owned);
            if (l <= 0) {
                rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
                break;
            }
            xder = owned;
            xlen = (size_t)l;
        }
        bool ext_done = false;
        for (size_t i = 0; i < st->n && rc == TLS_OK; i++) {
            vt_event *e = &st->ev[i];
            int ed = e->depth < 0 ? -1 : e->depth >= len ? len - 1 : e->depth;
            if (ed != d)
                continue;
            if (e->reason == VT_EXTENSION) {
                if (ext_done)
                    continue;
                ext_done = true;
                bool any = false;
                rc = deliver_extensions(&rp, x, xder, xlen, d, &any);
                if (rc || any)
                    continue;
                /* flagged but nothing found: report it as a bad certificate */
                tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = TLS_BAD_CERT_USER};
                rc = deliver(&rp, x, xder, xlen, d, &ev, e->xerr);
                continue;
            }
            tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = e->reason};
            rc = deliver(&rp, x, xder, xlen, d, &ev, e->xerr);
        }
        if (rc == TLS_OK && d == 0 && vc->verify == TLS_VERIFY_PEER && vc->hostname && vc->hostname[0] &&
            !hostname_ok(x, vc->hostname)) {
            tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = TLS_BAD_CERT_HOSTNAME_CHECK_FAILED};
            rc = deliver(&rp, x, xder, xlen, d, &ev, 0);
        }
        if (rc == TLS_OK) {
            tls_verify_event ev = {.kind = d == 0 ? TLS_EVENT_VALID_PEER : TLS_EVENT_VALID};
            rc = deliver(&rp, x, xder, xlen, d, &ev, 0);
        }
        OPENSSL_free(owned);
    }

out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(empty);
    sk_X509_free(untrusted);
    if (peer)
        for (size_t i = 0; i < n; i++)
            X509_free(peer[i]);
    free(peer);
    free(st);
    return rc;
}
