/* Our certificates and keys, the trusted CAs and DH parameters, from the
 * Erlang/OTP ssl options; all of them held to the security level the way
 * OpenSSL holds them (SSL_CTX_use_certificate, SSL_CTX_set0_tmp_dh_pkey). */
#include "cert.h"

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

X509 *tls_x509_from_der(const uint8_t *p, size_t len)
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
        X509 *x = tls_x509_from_der(p, len);
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

/* ---- security levels ------------------------------------------------------ */

/* Bits of security each level asks for, and the key sizes that give them
 * (NIST SP 800-57: RSA/DSA/DH moduli, EC orders), as OpenSSL's tables. */
static const int level_bits[] = {80, 112, 128, 192, 256};
static const int level_ff_bits[] = {1024, 2048, 3072, 7680, 15360};
static const int level_ec_bits[] = {160, 224, 256, 384, 512};

static int level_index(int level)
{
    return level > 5 ? 4 : level - 1;
}

static void name_rfc2253(const X509_NAME *name, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(b, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

void tls_x509_subject(X509 *x, char *buf, size_t len)
{
    name_rfc2253(X509_get_subject_name(x), buf, len);
}

void tls_x509_issuer(X509 *x, char *buf, size_t len)
{
    name_rfc2253(X509_get_issuer_name(x), buf, len);
}

/* "the DH group has 1024 bits" / "has an RSA key of 1024 bits" + the refusal;
 * false when the key is strong enough for the level. */
static bool key_too_weak(EVP_PKEY *k, int level, const char *what, char *buf, size_t len)
{
    if (level <= 0 || !k || EVP_PKEY_get_security_bits(k) >= level_bits[level_index(level)])
        return false;
    const char *type = EVP_PKEY_get0_type_name(k);
    if (!type)
        type = "unknown";
    const char *article = type[0] && strchr("AEFHILMNORSX", type[0]) ? "an" : "a"; /* "an RSA", "a DSA" */
    int bits = EVP_PKEY_get_bits(k);
    int need = 0;
    if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS") || EVP_PKEY_is_a(k, "DSA") ||
        EVP_PKEY_is_a(k, "DH") || EVP_PKEY_is_a(k, "DHX"))
        need = level_ff_bits[level_index(level)];
    else if (EVP_PKEY_is_a(k, "EC"))
        need = level_ec_bits[level_index(level)];
    char least[32] = "";
    if (need)
        snprintf(least, sizeof least, " (at least %d)", need);
    if (what)
        snprintf(buf, len, "%s has %d bits, refused at security level %d%s", what, bits, level, least);
    else
        snprintf(buf, len, "has %s %s key of %d bits, refused at security level %d%s", article, type, bits,
                 level, least);
    return true;
}

static const char *digest_name(int md_nid)
{
    switch (md_nid) {
    case NID_md5: return "MD5";
    case NID_md5_sha1: return "MD5+SHA-1";
    case NID_sha1: return "SHA-1";
    case NID_sha224: return "SHA-224";
    case NID_undef: return "an unknown digest";
    default: return OBJ_nid2sn(md_nid);
    }
}

bool tls_x509_too_weak(X509 *x, int level, bool check_key, bool check_sig, char *buf, size_t len)
{
    if (level <= 0)
        return false;
    if (check_key && key_too_weak(X509_get0_pubkey(x), level, NULL, buf, len))
        return true;
    int md_nid = NID_undef, secbits = -1;
    if (check_sig && (!X509_get_signature_info(x, &md_nid, NULL, &secbits, NULL) ||
                      secbits < level_bits[level_index(level)])) {
        ERR_clear_error();
        snprintf(buf, len, "is signed with %s, refused at security level %d", digest_name(md_nid), level);
        return true;
    }
    return false;
}

/* Our own chain, held to the level as OpenSSL's SSL_CTX_use_certificate
 * holds it: every key, every signature but a self-signed one's. */
static int check_own_chain(const tls_options *o, STACK_OF(X509) *chain, const char *opt, const char *name,
                           tls_error *err)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        bool self_signed = (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
        char why[160], subj[96];
        if (tls_x509_too_weak(x, o->security_level, true, !self_signed, why, sizeof why)) {
            tls_x509_subject(x, subj, sizeof subj);
            return tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: certificate '%s' %s", opt, name, subj, why);
        }
    }
    return TLS_OK;
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
        X509 *x = tls_x509_from_der(o->cert, o->cert_len);
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
    rc = check_own_chain(o, cred->chain, copt, cname, err);
    if (rc)
        goto fail;

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

/* The configured CAs: cacerts (DER) override cacertfile. NULL *out and
 * TLS_OK when neither is set. */
static int configured_cas(const tls_options *o, STACK_OF(X509) **out, tls_error *err)
{
    *out = NULL;
    if (o->cacerts && o->n_cacerts) {
        STACK_OF(X509) *sk = sk_X509_new_null();
        if (!sk)
            return tls_err_set(err, TLS_E_NOMEM, -1, "cacerts");
        for (size_t i = 0; i < o->n_cacerts; i++) {
            X509 *x = tls_x509_from_der(o->cacerts[i], o->cacerts_len ? o->cacerts_len[i] : 0);
            if (!x || !sk_X509_push(sk, x)) {
                int rc = x ? tls_err_set(err, TLS_E_NOMEM, -1, "cacerts[%zu]", i)
                           : tls_err_set(err, TLS_E_CONFIG, -1, "cacerts[%zu]: not a DER certificate", i);
                X509_free(x);
                sk_X509_pop_free(sk, X509_free);
                return rc;
            }
        }
        *out = sk;
        return TLS_OK;
    }
    if (!o->cacertfile)
        return TLS_OK;
    uint8_t *buf;
    size_t len;
    int e = read_file(o->cacertfile, &buf, &len);
    if (e)
        return tls_err_set(err, TLS_E_CONFIG, -1, "cacertfile %s: %s", o->cacertfile, strerror(e));
    *out = certs_from_buffer(buf, len);
    free(buf);
    if (!*out)
        return tls_err_set(err, TLS_E_CONFIG, -1, "cacertfile %s: no certificate found", o->cacertfile);
    return TLS_OK;
}

int tls_ca_load(const tls_options *o, X509_STORE **store, size_t *n_loaded, tls_error *err)
{
    *n_loaded = 0;
    STACK_OF(X509) *cas;
    int rc = configured_cas(o, &cas, err);
    if (rc) {
        *store = NULL;
        return rc;
    }
    *store = X509_STORE_new();
    if (!*store) {
        sk_X509_pop_free(cas, X509_free);
        return tls_err_set(err, TLS_E_NOMEM, -1, "CA store");
    }
    /* libcrypto's auth level: the key-size and digest checks of the level */
    X509_VERIFY_PARAM_set_auth_level(X509_STORE_get0_param(*store), o->security_level);
    if (!cas && o->verify == TLS_VERIFY_PEER) {
        /* the system store; a missing file or directory just trusts nothing */
        if (!X509_STORE_set_default_paths(*store))
            rc = tls_err_set(err, TLS_E_NOMEM, -1, "CA store: OpenSSL's default paths");
        ERR_clear_error();
        *n_loaded = (size_t)sk_X509_OBJECT_num(X509_STORE_get0_objects(*store));
    }
    for (int i = 0; rc == TLS_OK && i < sk_X509_num(cas); i++) {
        if (!X509_STORE_add_cert(*store, sk_X509_value(cas, i))) {
            ERR_clear_error();
            rc = tls_err_set(err, TLS_E_NOMEM, -1, "%s: cannot add certificate %d to the store",
                             o->cacerts && o->n_cacerts ? "cacerts" : o->cacertfile, i);
        } else {
            (*n_loaded)++;
        }
    }
    sk_X509_pop_free(cas, X509_free);
    if (rc) {
        X509_STORE_free(*store);
        *store = NULL;
        *n_loaded = 0;
    }
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
    char why[160];
    if (key_too_weak(p, o->security_level, "the DH group", why, sizeof why)) {
        EVP_PKEY_free(p);
        return tls_err_set(err, TLS_E_CONFIG, -1, "%s %s: %s", opt, what, why);
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
    X509 *x = tls_peer_x509(der, len);
    if (!x) {
        ERR_clear_error();
        return NULL;
    }
    EVP_PKEY *k = X509_get_pubkey(x);
    X509_free(x);
    return k;
}

