/* SPDX-License-Identifier: ISC */
/*
 * A fixed test certificate for the fuzz targets and their corpus generator:
 * self-signed Ed25519, CN fuzz.example, subjectAltName DNS:fuzz.example,
 * DNS:*.fuzz.example, IP:127.0.0.1, CA:TRUE, valid until 2126.  Made once
 * with `openssl req -x509 -newkey ed25519`; the key was thrown away, only
 * the certificate's bytes matter here (trust anchor, PEER_CERT payload).
 */
#ifndef FUZZCERT_H
#define FUZZCERT_H

static const char fuzz_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdjCCASigAwIBAgIUETn4qBJNyINuic5K5cei8UszJFQwBQYDK2VwMBcxFTAT\n"
    "BgNVBAMMDGZ1enouZXhhbXBsZTAgFw0yNjEyMDExMDExMDJaGA8yMTI2MTEwNzEw\n"
    "MTEwMlowFzEVMBMGA1UEAwwMZnV6ei5leGFtcGxlMCowBQYDK2VwAyEA8zXiAIGG\n"
    "WBN1+pkg9gGLIonyVJcGrU03sQ0MtbYOR0CjgYMwgYAwHQYDVR0OBBYEFB+takRE\n"
    "gI4TQ/wUrec2/4g+MJCvMB8GA1UdIwQYMBaAFB+takREgI4TQ/wUrec2/4g+MJCv\n"
    "MC0GA1UdEQQmMCSCDGZ1enouZXhhbXBsZYIOKi5mdXp6LmV4YW1wbGWHBH8AAAEw\n"
    "DwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQApABfWDrB88gkbyk08UIMYNfSPAdrf\n"
    "FFPHWs9anF+l6XZXxGT/mYXneCN6jghP6xZ5GpUMSG71qWlTqJrMYqIE\n"
    "-----END CERTIFICATE-----\n";

#endif
