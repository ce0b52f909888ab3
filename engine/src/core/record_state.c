/* What both record protections share (<= 1.2 in record.c, 1.3 in
 * record13.c): the end of a protection state and the record header. Kept
 * apart so that record.c, which hands TLS 1.3 states to record13.c, is not
 * called back by it. */
#include "record.h"

#include <openssl/crypto.h>

#include "buf.h"

void tls_rec_clear(tls_rec_crypto *rc)
{
    if (!rc)
        return;
    EVP_CIPHER_CTX_free(rc->ctx); /* providers wipe their key schedules */
    EVP_MD_CTX_free(rc->mac_inner);
    EVP_MD_CTX_free(rc->mac_outer);
    EVP_MD_CTX_free(rc->mac_work);
    EVP_MD_CTX_free(rc->mac_dummy);
    OPENSSL_cleanse(rc, sizeof *rc); /* zeroes: the null-cipher state */
}

void tls_rec_write_header(uint8_t out[TLS_RECORD_HEADER], uint8_t type, uint16_t version, size_t len)
{
    tls_wr w = tls_wr_fixed(out, TLS_RECORD_HEADER);
    tls_wr_u8(&w, type);
    tls_wr_u16(&w, version);
    tls_wr_u16(&w, (uint16_t)len);
}
