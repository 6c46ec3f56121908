# The "program": links libprime and libfmt, computes its table for the target architecture, and writes the tool.
BEGIN {
  n = sieve(LIMIT)
  h = 7
  for (round = 0; round < ROUNDS; round++)
    for (i = 1; i <= n; i++) h = mix(h, P[i] + round)
  printf "#!/bin/sh\n# tool for %s, %d primes below %d\n", ARCH, n, LIMIT
  printf "case \"$1\" in\n  --selftest) echo \"tool %s ok: table %s\" ;;\n  *) echo \"%s %s\" ;;\nesac\n", ARCH, hex(h), ARCH, hex(h)
}
