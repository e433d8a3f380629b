/* Certificates and keys for the web config tests (made once with openssl; never used outside tests). */
#pragma once

/* A self-signed EC P-256 certificate (CN rtun-unit-test, valid until 2126) and its key; another key. */
static const char cert_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBiDCCAS+gAwIBAgIUMSZPtGrvKIomokDg/PJWZRQ8rl0wCgYIKoZIzj0EAwIw\n"
        "GTEXMBUGA1UEAwwOcnR1bi11bml0LXRlc3QwIBcNMjYxMTI5MjMyMjM2WhgPMjEy\n"
        "NjExMDUyMzIyMzZaMBkxFzAVBgNVBAMMDnJ0dW4tdW5pdC10ZXN0MFkwEwYHKoZI\n"
        "zj0CAQYIKoZIzj0DAQcDQgAER82fbt7kd0lTeAS39GJgquWjzI+UJnjJif+M8rVY\n"
        "iey29edMn+QZfGtZZ9uPx9pUasHSPwP8k4JqcRZIyFnDBKNTMFEwHQYDVR0OBBYE\n"
        "FCoXvQGwFTeLjD0MX3LauhOZPgv7MB8GA1UdIwQYMBaAFCoXvQGwFTeLjD0MX3La\n"
        "uhOZPgv7MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgVX+Slyiu\n"
        "pVdkrXg0wmGLyqObH8Tq9MRBeHX7RuClZ+ACIBv3f3BF8/BPrOFTOwGYzJS/KF4D\n"
        "c4+EwAFrYg186Tjn\n"
        "-----END CERTIFICATE-----\n";
static const char key_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCjyXga0GUYnTbqj9\n"
        "Rk/V9ewZZYLwHSqpl7qw2PaANSKhRANCAARHzZ9u3uR3SVN4BLf0YmCq5aPMj5Qm\n"
        "eMmJ/4zytViJ7Lb150yf5Bl8a1ln24/H2lRqwdI/A/yTgmpxFkjIWcME\n"
        "-----END PRIVATE KEY-----\n";
static const char other_key_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjsZeqkyEGxISYrjI\n"
        "BjS451DlC9IOA1c2t3w3ym8PEt6hRANCAASNJhR3B86dRCUSvHSYcEeMWh3Txxm1\n"
        "7qL3tNZ362/u26hPCDKaxhw0vzrACLEcGjL9c8eS7oGd8lJUJTL3xQqG\n"
        "-----END PRIVATE KEY-----\n";

