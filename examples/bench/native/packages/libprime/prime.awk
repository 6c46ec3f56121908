# libprime: a sieve of Eratosthenes up to LIMIT; prints the primes' count and their sum mod 2^31, and fills P[].
function sieve(limit,    i, j, n) {
  for (i = 2; i <= limit; i++) composite[i] = 0
  n = 0
  for (i = 2; i <= limit; i++) {
    if (composite[i]) continue
    P[++n] = i
    for (j = i * i; j <= limit; j += i) composite[j] = 1
  }
  return n
}
