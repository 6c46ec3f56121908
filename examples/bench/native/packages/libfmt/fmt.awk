# libfmt: a checksum over a table (a stand-in for a linker's relocation pass) and a hex formatter.
function mix(h, v) { return (h * 31 + v) % 2147483647 }
function hex(v,    s, d) {
  s = ""
  do { d = v % 16; s = substr("0123456789abcdef", d + 1, 1) s; v = int(v / 16) } while (v > 0)
  return s
}
