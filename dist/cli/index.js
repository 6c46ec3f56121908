#!/usr/bin/env node
import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 9379:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const ANY = Symbol('SemVer ANY')
// hoisted class for cyclic dependency
class Comparator {
  static get ANY () {
    return ANY
  }

  constructor (comp, options) {
    options = parseOptions(options)

    if (comp instanceof Comparator) {
      if (comp.loose === !!options.loose) {
        return comp
      } else {
        comp = comp.value
      }
    }

    comp = comp.trim().split(/\s+/).join(' ')
    debug('comparator', comp, options)
    this.options = options
    this.loose = !!options.loose
    this.parse(comp)

    if (this.semver === ANY) {
      this.value = ''
    } else {
      this.value = this.operator + this.semver.version
    }

    debug('comp', this)
  }

  parse (comp) {
    const r = this.options.loose ? re[t.COMPARATORLOOSE] : re[t.COMPARATOR]
    const m = comp.match(r)

    if (!m) {
      throw new TypeError(`Invalid comparator: ${comp}`)
    }

    this.operator = m[1] !== undefined ? m[1] : ''
    if (this.operator === '=') {
      this.operator = ''
    }

    // if it literally is just '>' or '' then allow anything.
    if (!m[2]) {
      this.semver = ANY
    } else {
      this.semver = new SemVer(m[2], this.options.loose)
    }
  }

  toString () {
    return this.value
  }

  test (version) {
    debug('Comparator.test', version, this.options.loose)

    if (this.semver === ANY || version === ANY) {
      return true
    }

    if (typeof version === 'string') {
      try {
        version = new SemVer(version, this.options)
      } catch (er) {
        return false
      }
    }

    return cmp(version, this.operator, this.semver, this.options)
  }

  intersects (comp, options) {
    if (!(comp instanceof Comparator)) {
      throw new TypeError('a Comparator is required')
    }

    if (this.operator === '') {
      if (this.value === '') {
        return true
      }
      return new Range(comp.value, options).test(this.value)
    } else if (comp.operator === '') {
      if (comp.value === '') {
        return true
      }
      return new Range(this.value, options).test(comp.semver)
    }

    options = parseOptions(options)

    // Special cases where nothing can possibly be lower
    if (options.includePrerelease &&
      (this.value === '<0.0.0-0' || comp.value === '<0.0.0-0')) {
      return false
    }
    if (!options.includePrerelease &&
      (this.value.startsWith('<0.0.0') || comp.value.startsWith('<0.0.0'))) {
      return false
    }

    // Same direction increasing (> or >=)
    if (this.operator.startsWith('>') && comp.operator.startsWith('>')) {
      return true
    }
    // Same direction decreasing (< or <=)
    if (this.operator.startsWith('<') && comp.operator.startsWith('<')) {
      return true
    }
    // same SemVer and both sides are inclusive (<= or >=)
    if (
      (this.semver.version === comp.semver.version) &&
      this.operator.includes('=') && comp.operator.includes('=')) {
      return true
    }
    // opposite directions less than
    if (cmp(this.semver, '<', comp.semver, options) &&
      this.operator.startsWith('>') && comp.operator.startsWith('<')) {
      return true
    }
    // opposite directions greater than
    if (cmp(this.semver, '>', comp.semver, options) &&
      this.operator.startsWith('<') && comp.operator.startsWith('>')) {
      return true
    }
    return false
  }
}

module.exports = Comparator

const parseOptions = __nccwpck_require__(356)
const { safeRe: re, t } = __nccwpck_require__(5471)
const cmp = __nccwpck_require__(8646)
const debug = __nccwpck_require__(1159)
const SemVer = __nccwpck_require__(7163)
const Range = __nccwpck_require__(6782)


/***/ }),

/***/ 6782:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SPACE_CHARACTERS = /\s+/g

// hoisted class for cyclic dependency
class Range {
  constructor (range, options) {
    options = parseOptions(options)

    if (range instanceof Range) {
      if (
        range.loose === !!options.loose &&
        range.includePrerelease === !!options.includePrerelease
      ) {
        return range
      } else {
        return new Range(range.raw, options)
      }
    }

    if (range instanceof Comparator) {
      // just put it in the set and return
      this.raw = range.value
      this.set = [[range]]
      this.formatted = undefined
      return this
    }

    this.options = options
    this.loose = !!options.loose
    this.includePrerelease = !!options.includePrerelease

    // First reduce all whitespace as much as possible so we do not have to rely
    // on potentially slow regexes like \s*. This is then stored and used for
    // future error messages as well.
    this.raw = range.trim().replace(SPACE_CHARACTERS, ' ')

    // First, split on ||
    this.set = this.raw
      .split('||')
      // map the range to a 2d array of comparators
      .map(r => this.parseRange(r.trim()))
      // throw out any comparator lists that are empty
      // this generally means that it was not a valid range, which is allowed
      // in loose mode, but will still throw if the WHOLE range is invalid.
      .filter(c => c.length)

    if (!this.set.length) {
      throw new TypeError(`Invalid SemVer Range: ${this.raw}`)
    }

    // if we have any that are not the null set, throw out null sets.
    if (this.set.length > 1) {
      // keep the first one, in case they're all null sets
      const first = this.set[0]
      this.set = this.set.filter(c => !isNullSet(c[0]))
      if (this.set.length === 0) {
        this.set = [first]
      } else if (this.set.length > 1) {
        // if we have any that are *, then the range is just *
        for (const c of this.set) {
          if (c.length === 1 && isAny(c[0])) {
            this.set = [c]
            break
          }
        }
      }
    }

    this.formatted = undefined
  }

  get range () {
    if (this.formatted === undefined) {
      this.formatted = ''
      for (let i = 0; i < this.set.length; i++) {
        if (i > 0) {
          this.formatted += '||'
        }
        const comps = this.set[i]
        for (let k = 0; k < comps.length; k++) {
          if (k > 0) {
            this.formatted += ' '
          }
          this.formatted += comps[k].toString().trim()
        }
      }
    }
    return this.formatted
  }

  format () {
    return this.range
  }

  toString () {
    return this.range
  }

  parseRange (range) {
    // strip build metadata so it can't bleed into the version
    range = range.replace(BUILDSTRIPRE, '')

    // memoize range parsing for performance.
    // this is a very hot path, and fully deterministic.
    const memoOpts =
      (this.options.includePrerelease && FLAG_INCLUDE_PRERELEASE) |
      (this.options.loose && FLAG_LOOSE)
    const memoKey = memoOpts + ':' + range
    const cached = cache.get(memoKey)
    if (cached) {
      return cached
    }

    const loose = this.options.loose
    // `1.2.3 - 1.2.4` => `>=1.2.3 <=1.2.4`
    const hr = loose ? re[t.HYPHENRANGELOOSE] : re[t.HYPHENRANGE]
    range = range.replace(hr, hyphenReplace(this.options.includePrerelease))
    debug('hyphen replace', range)

    // `> 1.2.3 < 1.2.5` => `>1.2.3 <1.2.5`
    range = trimComparatorWhitespace(range)
    debug('comparator trim', range)

    // `~ 1.2.3` => `~1.2.3`
    range = range.replace(re[t.TILDETRIM], tildeTrimReplace)
    debug('tilde trim', range)

    // `^ 1.2.3` => `^1.2.3`
    range = range.replace(re[t.CARETTRIM], caretTrimReplace)
    debug('caret trim', range)

    // At this point, the range is completely trimmed and
    // ready to be split into comparators.

    let rangeList = range
      .split(' ')
      .map(comp => parseComparator(comp, this.options))
      .join(' ')
      .split(/\s+/)
      // >=0.0.0 is equivalent to *
      .map(comp => replaceGTE0(comp, this.options))

    if (loose) {
      // in loose mode, throw out any that are not valid comparators
      rangeList = rangeList.filter(comp => {
        debug('loose invalid filter', comp, this.options)
        return !!comp.match(re[t.COMPARATORLOOSE])
      })
    }
    debug('range list', rangeList)

    // if any comparators are the null set, then replace with JUST null set
    // if more than one comparator, remove any * comparators
    // also, don't include the same comparator more than once
    const rangeMap = new Map()
    const comparators = rangeList.map(comp => new Comparator(comp, this.options))
    for (const comp of comparators) {
      if (isNullSet(comp)) {
        return [comp]
      }
      rangeMap.set(comp.value, comp)
    }
    if (rangeMap.size > 1 && rangeMap.has('')) {
      rangeMap.delete('')
    }

    const result = [...rangeMap.values()]
    cache.set(memoKey, result)
    return result
  }

  intersects (range, options) {
    if (!(range instanceof Range)) {
      throw new TypeError('a Range is required')
    }

    return this.set.some((thisComparators) => {
      return (
        isSatisfiable(thisComparators, options) &&
        range.set.some((rangeComparators) => {
          return (
            isSatisfiable(rangeComparators, options) &&
            thisComparators.every((thisComparator) => {
              return rangeComparators.every((rangeComparator) => {
                return thisComparator.intersects(rangeComparator, options)
              })
            })
          )
        })
      )
    })
  }

  // if ANY of the sets match ALL of its comparators, then pass
  test (version) {
    if (!version) {
      return false
    }

    if (typeof version === 'string') {
      try {
        version = new SemVer(version, this.options)
      } catch (er) {
        return false
      }
    }

    for (let i = 0; i < this.set.length; i++) {
      if (testSet(this.set[i], version, this.options)) {
        return true
      }
    }
    return false
  }
}

module.exports = Range

const LRU = __nccwpck_require__(1383)
const cache = new LRU()

const parseOptions = __nccwpck_require__(356)
const Comparator = __nccwpck_require__(9379)
const debug = __nccwpck_require__(1159)
const SemVer = __nccwpck_require__(7163)
const trimComparatorWhitespace = __nccwpck_require__(9737)
const {
  safeRe: re,
  src,
  t,
  tildeTrimReplace,
  caretTrimReplace,
} = __nccwpck_require__(5471)
const { FLAG_INCLUDE_PRERELEASE, FLAG_LOOSE } = __nccwpck_require__(5101)

// unbounded global build-metadata stripper used by parseRange
const BUILDSTRIPRE = new RegExp(src[t.BUILD], 'g')

const isNullSet = c => c.value === '<0.0.0-0'
const isAny = c => c.value === ''

// take a set of comparators and determine whether there
// exists a version which can satisfy it
const isSatisfiable = (comparators, options) => {
  let result = true
  const remainingComparators = comparators.slice()
  let testComparator = remainingComparators.pop()

  while (result && remainingComparators.length) {
    result = remainingComparators.every((otherComparator) => {
      return testComparator.intersects(otherComparator, options)
    })

    testComparator = remainingComparators.pop()
  }

  return result
}

// comprised of xranges, tildes, stars, and gtlt's at this point.
// already replaced the hyphen ranges
// turn into a set of JUST comparators.
const parseComparator = (comp, options) => {
  comp = comp.replace(re[t.BUILD], '')
  debug('comp', comp, options)
  comp = replaceCarets(comp, options)
  debug('caret', comp)
  comp = replaceTildes(comp, options)
  debug('tildes', comp)
  comp = replaceXRanges(comp, options)
  debug('xrange', comp)
  comp = replaceStars(comp, options)
  debug('stars', comp)
  return comp
}

const isX = id => !id || id.toLowerCase() === 'x' || id === '*'

const invalidXRangeOrder = (M, m, p) => (
  (isX(M) && !isX(m)) ||
  (isX(m) && p && !isX(p))
)

// ~, ~> --> * (any, kinda silly)
// ~2, ~2.x, ~2.x.x, ~>2, ~>2.x ~>2.x.x --> >=2.0.0 <3.0.0-0
// ~2.0, ~2.0.x, ~>2.0, ~>2.0.x --> >=2.0.0 <2.1.0-0
// ~1.2, ~1.2.x, ~>1.2, ~>1.2.x --> >=1.2.0 <1.3.0-0
// ~1.2.3, ~>1.2.3 --> >=1.2.3 <1.3.0-0
// ~1.2.0, ~>1.2.0 --> >=1.2.0 <1.3.0-0
// ~0.0.1 --> >=0.0.1 <0.1.0-0
const replaceTildes = (comp, options) => {
  return comp
    .trim()
    .split(/\s+/)
    .map((c) => replaceTilde(c, options))
    .join(' ')
}

const replaceTilde = (comp, options) => {
  const r = options.loose ? re[t.TILDELOOSE] : re[t.TILDE]
  // if we're including prereleases in the match, then the lower bound is
  // -0, the lowest possible prerelease value, just like x-ranges and carets.
  // this keeps `~1.2` equivalent to the `1.2.x` x-range it's documented as.
  const z = options.includePrerelease ? '-0' : ''
  return comp.replace(r, (_, M, m, p, pr) => {
    debug('tilde', comp, _, M, m, p, pr)
    let ret

    if (isX(M)) {
      ret = ''
    } else if (isX(m)) {
      ret = `>=${M}.0.0${z} <${+M + 1}.0.0-0`
    } else if (isX(p)) {
      // ~1.2 == >=1.2.0 <1.3.0-0
      ret = `>=${M}.${m}.0${z} <${M}.${+m + 1}.0-0`
    } else if (pr) {
      debug('replaceTilde pr', pr)
      ret = `>=${M}.${m}.${p}-${pr
      } <${M}.${+m + 1}.0-0`
    } else {
      // ~1.2.3 == >=1.2.3 <1.3.0-0
      ret = `>=${M}.${m}.${p
      } <${M}.${+m + 1}.0-0`
    }

    debug('tilde return', ret)
    return ret
  })
}

// ^ --> * (any, kinda silly)
// ^2, ^2.x, ^2.x.x --> >=2.0.0 <3.0.0-0
// ^2.0, ^2.0.x --> >=2.0.0 <3.0.0-0
// ^1.2, ^1.2.x --> >=1.2.0 <2.0.0-0
// ^1.2.3 --> >=1.2.3 <2.0.0-0
// ^1.2.0 --> >=1.2.0 <2.0.0-0
// ^0.0.1 --> >=0.0.1 <0.0.2-0
// ^0.1.0 --> >=0.1.0 <0.2.0-0
const replaceCarets = (comp, options) => {
  return comp
    .trim()
    .split(/\s+/)
    .map((c) => replaceCaret(c, options))
    .join(' ')
}

const replaceCaret = (comp, options) => {
  debug('caret', comp, options)
  const r = options.loose ? re[t.CARETLOOSE] : re[t.CARET]
  const z = options.includePrerelease ? '-0' : ''
  return comp.replace(r, (_, M, m, p, pr) => {
    debug('caret', comp, _, M, m, p, pr)
    let ret

    if (isX(M)) {
      ret = ''
    } else if (isX(m)) {
      ret = `>=${M}.0.0${z} <${+M + 1}.0.0-0`
    } else if (isX(p)) {
      if (M === '0') {
        ret = `>=${M}.${m}.0${z} <${M}.${+m + 1}.0-0`
      } else {
        ret = `>=${M}.${m}.0${z} <${+M + 1}.0.0-0`
      }
    } else if (pr) {
      debug('replaceCaret pr', pr)
      if (M === '0') {
        if (m === '0') {
          ret = `>=${M}.${m}.${p}-${pr
          } <${M}.${m}.${+p + 1}-0`
        } else {
          ret = `>=${M}.${m}.${p}-${pr
          } <${M}.${+m + 1}.0-0`
        }
      } else {
        ret = `>=${M}.${m}.${p}-${pr
        } <${+M + 1}.0.0-0`
      }
    } else {
      debug('no pr')
      if (M === '0') {
        if (m === '0') {
          ret = `>=${M}.${m}.${p
          } <${M}.${m}.${+p + 1}-0`
        } else {
          ret = `>=${M}.${m}.${p
          } <${M}.${+m + 1}.0-0`
        }
      } else {
        ret = `>=${M}.${m}.${p
        } <${+M + 1}.0.0-0`
      }
    }

    debug('caret return', ret)
    return ret
  })
}

const replaceXRanges = (comp, options) => {
  debug('replaceXRanges', comp, options)
  return comp
    .split(/\s+/)
    .map((c) => replaceXRange(c, options))
    .join(' ')
}

const replaceXRange = (comp, options) => {
  comp = comp.trim()
  const r = options.loose ? re[t.XRANGELOOSE] : re[t.XRANGE]
  return comp.replace(r, (ret, gtlt, M, m, p, pr) => {
    debug('xRange', comp, ret, gtlt, M, m, p, pr)
    if (invalidXRangeOrder(M, m, p)) {
      return comp
    }

    const xM = isX(M)
    const xm = xM || isX(m)
    const xp = xm || isX(p)
    const anyX = xp

    if (gtlt === '=' && anyX) {
      gtlt = ''
    }

    // if we're including prereleases in the match, then we need
    // to fix this to -0, the lowest possible prerelease value
    pr = options.includePrerelease ? '-0' : ''

    if (xM) {
      if (gtlt === '>' || gtlt === '<') {
        // nothing is allowed
        ret = '<0.0.0-0'
      } else {
        // nothing is forbidden
        ret = '*'
      }
    } else if (gtlt && anyX) {
      // we know patch is an x, because we have any x at all.
      // replace X with 0
      if (xm) {
        m = 0
      }
      p = 0

      if (gtlt === '>') {
        // >1 => >=2.0.0
        // >1.2 => >=1.3.0
        gtlt = '>='
        if (xm) {
          M = +M + 1
          m = 0
          p = 0
        } else {
          m = +m + 1
          p = 0
        }
      } else if (gtlt === '<=') {
        // <=0.7.x is actually <0.8.0, since any 0.7.x should
        // pass.  Similarly, <=7.x is actually <8.0.0, etc.
        gtlt = '<'
        if (xm) {
          M = +M + 1
        } else {
          m = +m + 1
        }
      }

      if (gtlt === '<') {
        pr = '-0'
      }

      ret = `${gtlt + M}.${m}.${p}${pr}`
    } else if (xm) {
      ret = `>=${M}.0.0${pr} <${+M + 1}.0.0-0`
    } else if (xp) {
      ret = `>=${M}.${m}.0${pr
      } <${M}.${+m + 1}.0-0`
    }

    debug('xRange return', ret)

    return ret
  })
}

// Because * is AND-ed with everything else in the comparator,
// and '' means "any version", just remove the *s entirely.
const replaceStars = (comp, options) => {
  debug('replaceStars', comp, options)
  // Looseness is ignored here.  star is always as loose as it gets!
  return comp
    .trim()
    .replace(re[t.STAR], '')
}

const replaceGTE0 = (comp, options) => {
  debug('replaceGTE0', comp, options)
  return comp
    .trim()
    .replace(re[options.includePrerelease ? t.GTE0PRE : t.GTE0], '')
}

// This function is passed to string.replace(re[t.HYPHENRANGE])
// M, m, patch, prerelease, build
// 1.2 - 3.4.5 => >=1.2.0 <=3.4.5
// 1.2.3 - 3.4 => >=1.2.0 <3.5.0-0 Any 3.4.x will do
// 1.2 - 3.4 => >=1.2.0 <3.5.0-0
// TODO build?
const hyphenReplace = incPr => ($0,
  from, fM, fm, fp, fpr, fb,
  to, tM, tm, tp, tpr) => {
  if (isX(fM)) {
    from = ''
  } else if (isX(fm)) {
    from = `>=${fM}.0.0${incPr ? '-0' : ''}`
  } else if (isX(fp)) {
    from = `>=${fM}.${fm}.0${incPr ? '-0' : ''}`
  } else if (fpr) {
    from = `>=${from}`
  } else {
    from = `>=${from}${incPr ? '-0' : ''}`
  }

  if (isX(tM)) {
    to = ''
  } else if (isX(tm)) {
    to = `<${+tM + 1}.0.0-0`
  } else if (isX(tp)) {
    to = `<${tM}.${+tm + 1}.0-0`
  } else if (tpr) {
    to = `<=${tM}.${tm}.${tp}-${tpr}`
  } else if (incPr) {
    to = `<${tM}.${tm}.${+tp + 1}-0`
  } else {
    to = `<=${to}`
  }

  return `${from} ${to}`.trim()
}

const testSet = (set, version, options) => {
  for (let i = 0; i < set.length; i++) {
    if (!set[i].test(version)) {
      return false
    }
  }

  if (version.prerelease.length && !options.includePrerelease) {
    // Find the set of versions that are allowed to have prereleases
    // For example, ^1.2.3-pr.1 desugars to >=1.2.3-pr.1 <2.0.0
    // That should allow `1.2.3-pr.2` to pass.
    // However, `1.2.4-alpha.notready` should NOT be allowed,
    // even though it's within the range set by the comparators.
    for (let i = 0; i < set.length; i++) {
      debug(set[i].semver)
      if (set[i].semver === Comparator.ANY) {
        continue
      }

      if (set[i].semver.prerelease.length > 0) {
        const allowed = set[i].semver
        if (allowed.major === version.major &&
            allowed.minor === version.minor &&
            allowed.patch === version.patch) {
          return true
        }
      }
    }

    // Version has a -pre, but it's not one of the ones we like.
    return false
  }

  return true
}


/***/ }),

/***/ 7163:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const debug = __nccwpck_require__(1159)
const { MAX_LENGTH, MAX_SAFE_INTEGER } = __nccwpck_require__(5101)
const { safeRe: re, t } = __nccwpck_require__(5471)

const parseOptions = __nccwpck_require__(356)
const { compareIdentifiers } = __nccwpck_require__(3348)

const isPrereleaseIdentifier = (prerelease, identifier) => {
  const identifiers = identifier.split('.')
  if (identifiers.length > prerelease.length) {
    return false
  }

  for (let i = 0; i < identifiers.length; i++) {
    if (compareIdentifiers(prerelease[i], identifiers[i]) !== 0) {
      return false
    }
  }

  return true
}

class SemVer {
  constructor (version, options) {
    options = parseOptions(options)

    if (version instanceof SemVer) {
      if (version.loose === !!options.loose &&
        version.includePrerelease === !!options.includePrerelease) {
        return version
      } else {
        version = version.version
      }
    } else if (typeof version !== 'string') {
      throw new TypeError(`Invalid version. Must be a string. Got type "${typeof version}".`)
    }

    if (version.length > MAX_LENGTH) {
      throw new TypeError(
        `version is longer than ${MAX_LENGTH} characters`
      )
    }

    debug('SemVer', version, options)
    this.options = options
    this.loose = !!options.loose
    // this isn't actually relevant for versions, but keep it so that we
    // don't run into trouble passing this.options around.
    this.includePrerelease = !!options.includePrerelease

    const m = version.trim().match(options.loose ? re[t.LOOSE] : re[t.FULL])

    if (!m) {
      throw new TypeError(`Invalid Version: ${version}`)
    }

    this.raw = version

    // these are actually numbers
    this.major = +m[1]
    this.minor = +m[2]
    this.patch = +m[3]

    if (this.major > MAX_SAFE_INTEGER || this.major < 0) {
      throw new TypeError('Invalid major version')
    }

    if (this.minor > MAX_SAFE_INTEGER || this.minor < 0) {
      throw new TypeError('Invalid minor version')
    }

    if (this.patch > MAX_SAFE_INTEGER || this.patch < 0) {
      throw new TypeError('Invalid patch version')
    }

    // numberify any prerelease numeric ids
    if (!m[4]) {
      this.prerelease = []
    } else {
      this.prerelease = m[4].split('.').map((id) => {
        if (/^[0-9]+$/.test(id)) {
          const num = +id
          if (num >= 0 && num < MAX_SAFE_INTEGER) {
            return num
          }
        }
        return id
      })
    }

    this.build = m[5] ? m[5].split('.') : []
    this.format()
  }

  format () {
    this.version = `${this.major}.${this.minor}.${this.patch}`
    if (this.prerelease.length) {
      this.version += `-${this.prerelease.join('.')}`
    }
    return this.version
  }

  toString () {
    return this.version
  }

  compare (other) {
    debug('SemVer.compare', this.version, this.options, other)
    if (!(other instanceof SemVer)) {
      if (typeof other === 'string' && other === this.version) {
        return 0
      }
      other = new SemVer(other, this.options)
    }

    if (other.version === this.version) {
      return 0
    }

    return this.compareMain(other) || this.comparePre(other)
  }

  compareMain (other) {
    if (!(other instanceof SemVer)) {
      other = new SemVer(other, this.options)
    }

    if (this.major < other.major) {
      return -1
    }
    if (this.major > other.major) {
      return 1
    }
    if (this.minor < other.minor) {
      return -1
    }
    if (this.minor > other.minor) {
      return 1
    }
    if (this.patch < other.patch) {
      return -1
    }
    if (this.patch > other.patch) {
      return 1
    }
    return 0
  }

  comparePre (other) {
    if (!(other instanceof SemVer)) {
      other = new SemVer(other, this.options)
    }

    // NOT having a prerelease is > having one
    if (this.prerelease.length && !other.prerelease.length) {
      return -1
    } else if (!this.prerelease.length && other.prerelease.length) {
      return 1
    } else if (!this.prerelease.length && !other.prerelease.length) {
      return 0
    }

    let i = 0
    do {
      const a = this.prerelease[i]
      const b = other.prerelease[i]
      debug('prerelease compare', i, a, b)
      if (a === undefined && b === undefined) {
        return 0
      } else if (b === undefined) {
        return 1
      } else if (a === undefined) {
        return -1
      } else if (a === b) {
        continue
      } else {
        return compareIdentifiers(a, b)
      }
    } while (++i)
  }

  compareBuild (other) {
    if (!(other instanceof SemVer)) {
      other = new SemVer(other, this.options)
    }

    let i = 0
    do {
      const a = this.build[i]
      const b = other.build[i]
      debug('build compare', i, a, b)
      if (a === undefined && b === undefined) {
        return 0
      } else if (b === undefined) {
        return 1
      } else if (a === undefined) {
        return -1
      } else if (a === b) {
        continue
      } else {
        return compareIdentifiers(a, b)
      }
    } while (++i)
  }

  // preminor will bump the version up to the next minor release, and immediately
  // down to pre-release. premajor and prepatch work the same way.
  inc (release, identifier, identifierBase) {
    if (release.startsWith('pre')) {
      if (!identifier && identifierBase === false) {
        throw new Error('invalid increment argument: identifier is empty')
      }
      // Avoid an invalid semver results
      if (identifier) {
        const match = `-${identifier}`.match(this.options.loose ? re[t.PRERELEASELOOSE] : re[t.PRERELEASE])
        if (!match || match[1] !== identifier) {
          throw new Error(`invalid identifier: ${identifier}`)
        }
      }
    }

    switch (release) {
      case 'premajor':
        this.prerelease.length = 0
        this.patch = 0
        this.minor = 0
        this.major++
        this.inc('pre', identifier, identifierBase)
        break
      case 'preminor':
        this.prerelease.length = 0
        this.patch = 0
        this.minor++
        this.inc('pre', identifier, identifierBase)
        break
      case 'prepatch':
        // If this is already a prerelease, it will bump to the next version
        // drop any prereleases that might already exist, since they are not
        // relevant at this point.
        this.prerelease.length = 0
        this.inc('patch', identifier, identifierBase)
        this.inc('pre', identifier, identifierBase)
        break
      // If the input is a non-prerelease version, this acts the same as
      // prepatch.
      case 'prerelease':
        if (this.prerelease.length === 0) {
          this.inc('patch', identifier, identifierBase)
        }
        this.inc('pre', identifier, identifierBase)
        break
      case 'release':
        if (this.prerelease.length === 0) {
          throw new Error(`version ${this.raw} is not a prerelease`)
        }
        this.prerelease.length = 0
        break

      case 'major':
        // If this is a pre-major version, bump up to the same major version.
        // Otherwise increment major.
        // 1.0.0-5 bumps to 1.0.0
        // 1.1.0 bumps to 2.0.0
        if (
          this.minor !== 0 ||
          this.patch !== 0 ||
          this.prerelease.length === 0
        ) {
          this.major++
        }
        this.minor = 0
        this.patch = 0
        this.prerelease = []
        break
      case 'minor':
        // If this is a pre-minor version, bump up to the same minor version.
        // Otherwise increment minor.
        // 1.2.0-5 bumps to 1.2.0
        // 1.2.1 bumps to 1.3.0
        if (this.patch !== 0 || this.prerelease.length === 0) {
          this.minor++
        }
        this.patch = 0
        this.prerelease = []
        break
      case 'patch':
        // If this is not a pre-release version, it will increment the patch.
        // If it is a pre-release it will bump up to the same patch version.
        // 1.2.0-5 patches to 1.2.0
        // 1.2.0 patches to 1.2.1
        if (this.prerelease.length === 0) {
          this.patch++
        }
        this.prerelease = []
        break
      // This probably shouldn't be used publicly.
      // 1.0.0 'pre' would become 1.0.0-0 which is the wrong direction.
      case 'pre': {
        const base = Number(identifierBase) ? 1 : 0

        if (this.prerelease.length === 0) {
          this.prerelease = [base]
        } else {
          let i = this.prerelease.length
          while (--i >= 0) {
            if (typeof this.prerelease[i] === 'number') {
              this.prerelease[i]++
              i = -2
            }
          }
          if (i === -1) {
            // didn't increment anything
            if (identifier === this.prerelease.join('.') && identifierBase === false) {
              throw new Error('invalid increment argument: identifier already exists')
            }
            this.prerelease.push(base)
          }
        }
        if (identifier) {
          // 1.2.0-beta.1 bumps to 1.2.0-beta.2,
          // 1.2.0-beta.fooblz or 1.2.0-beta bumps to 1.2.0-beta.0
          let prerelease = [identifier, base]
          if (identifierBase === false) {
            prerelease = [identifier]
          }
          if (isPrereleaseIdentifier(this.prerelease, identifier)) {
            const prereleaseBase = this.prerelease[identifier.split('.').length]
            if (isNaN(prereleaseBase)) {
              this.prerelease = prerelease
            }
          } else {
            this.prerelease = prerelease
          }
        }
        break
      }
      default:
        throw new Error(`invalid increment argument: ${release}`)
    }
    this.raw = this.format()
    if (this.build.length) {
      this.raw += `+${this.build.join('.')}`
    }
    return this
  }
}

module.exports = SemVer


/***/ }),

/***/ 1799:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const parse = __nccwpck_require__(6353)
const clean = (version, options) => {
  const s = parse(version.trim().replace(/^[=v]+/, ''), options)
  return s ? s.version : null
}
module.exports = clean


/***/ }),

/***/ 8646:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const eq = __nccwpck_require__(5082)
const neq = __nccwpck_require__(4974)
const gt = __nccwpck_require__(6599)
const gte = __nccwpck_require__(1236)
const lt = __nccwpck_require__(3872)
const lte = __nccwpck_require__(6717)

const cmp = (a, op, b, loose) => {
  switch (op) {
    case '===':
      if (typeof a === 'object') {
        a = a.version
      }
      if (typeof b === 'object') {
        b = b.version
      }
      return a === b

    case '!==':
      if (typeof a === 'object') {
        a = a.version
      }
      if (typeof b === 'object') {
        b = b.version
      }
      return a !== b

    case '':
    case '=':
    case '==':
      return eq(a, b, loose)

    case '!=':
      return neq(a, b, loose)

    case '>':
      return gt(a, b, loose)

    case '>=':
      return gte(a, b, loose)

    case '<':
      return lt(a, b, loose)

    case '<=':
      return lte(a, b, loose)

    default:
      throw new TypeError(`Invalid operator: ${op}`)
  }
}
module.exports = cmp


/***/ }),

/***/ 5385:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const parse = __nccwpck_require__(6353)
const { safeRe: re, t } = __nccwpck_require__(5471)

const coerce = (version, options) => {
  if (version instanceof SemVer) {
    return version
  }

  if (typeof version === 'number') {
    version = String(version)
  }

  if (typeof version !== 'string') {
    return null
  }

  options = options || {}

  let match = null
  if (!options.rtl) {
    match = version.match(options.includePrerelease ? re[t.COERCEFULL] : re[t.COERCE])
  } else {
    // Find the right-most coercible string that does not share
    // a terminus with a more left-ward coercible string.
    // Eg, '1.2.3.4' wants to coerce '2.3.4', not '3.4' or '4'
    // With includePrerelease option set, '1.2.3.4-rc' wants to coerce '2.3.4-rc', not '2.3.4'
    //
    // Walk through the string checking with a /g regexp
    // Manually set the index so as to pick up overlapping matches.
    // Stop when we get a match that ends at the string end, since no
    // coercible string can be more right-ward without the same terminus.
    const coerceRtlRegex = options.includePrerelease ? re[t.COERCERTLFULL] : re[t.COERCERTL]
    let next
    while ((next = coerceRtlRegex.exec(version)) &&
        (!match || match.index + match[0].length !== version.length)
    ) {
      if (!match ||
            next.index + next[0].length !== match.index + match[0].length) {
        match = next
      }
      coerceRtlRegex.lastIndex = next.index + next[1].length + next[2].length
    }
    // leave it in a clean state
    coerceRtlRegex.lastIndex = -1
  }

  if (match === null) {
    return null
  }

  const major = match[2]
  const minor = match[3] || '0'
  const patch = match[4] || '0'
  const prerelease = options.includePrerelease && match[5] ? `-${match[5]}` : ''
  const build = options.includePrerelease && match[6] ? `+${match[6]}` : ''

  return parse(`${major}.${minor}.${patch}${prerelease}${build}`, options)
}
module.exports = coerce


/***/ }),

/***/ 7648:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const compareBuild = (a, b, loose) => {
  const versionA = new SemVer(a, loose)
  const versionB = new SemVer(b, loose)
  return versionA.compare(versionB) || versionA.compareBuild(versionB)
}
module.exports = compareBuild


/***/ }),

/***/ 6874:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const compareLoose = (a, b) => compare(a, b, true)
module.exports = compareLoose


/***/ }),

/***/ 8469:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const compare = (a, b, loose) =>
  new SemVer(a, loose).compare(new SemVer(b, loose))

module.exports = compare


/***/ }),

/***/ 711:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const parse = __nccwpck_require__(6353)

const diff = (version1, version2) => {
  const v1 = parse(version1, null, true)
  const v2 = parse(version2, null, true)
  const comparison = v1.compare(v2)

  if (comparison === 0) {
    return null
  }

  const v1Higher = comparison > 0
  const highVersion = v1Higher ? v1 : v2
  const lowVersion = v1Higher ? v2 : v1
  const highHasPre = !!highVersion.prerelease.length
  const lowHasPre = !!lowVersion.prerelease.length

  if (lowHasPre && !highHasPre) {
    // Going from prerelease -> no prerelease requires some special casing

    // If the low version has only a major, then it will always be a major
    // Some examples:
    // 1.0.0-1 -> 1.0.0
    // 1.0.0-1 -> 1.1.1
    // 1.0.0-1 -> 2.0.0
    if (!lowVersion.patch && !lowVersion.minor) {
      return 'major'
    }

    // If the main part has no difference
    if (lowVersion.compareMain(highVersion) === 0) {
      if (lowVersion.minor && !lowVersion.patch) {
        return 'minor'
      }
      return 'patch'
    }
  }

  // add the `pre` prefix if we are going to a prerelease version
  const prefix = highHasPre ? 'pre' : ''

  if (v1.major !== v2.major) {
    return prefix + 'major'
  }

  if (v1.minor !== v2.minor) {
    return prefix + 'minor'
  }

  if (v1.patch !== v2.patch) {
    return prefix + 'patch'
  }

  // high and low are prereleases
  return 'prerelease'
}

module.exports = diff


/***/ }),

/***/ 5082:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const eq = (a, b, loose) => compare(a, b, loose) === 0
module.exports = eq


/***/ }),

/***/ 6599:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const gt = (a, b, loose) => compare(a, b, loose) > 0
module.exports = gt


/***/ }),

/***/ 1236:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const gte = (a, b, loose) => compare(a, b, loose) >= 0
module.exports = gte


/***/ }),

/***/ 2338:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)

const inc = (version, release, options, identifier, identifierBase) => {
  if (typeof (options) === 'string') {
    identifierBase = identifier
    identifier = options
    options = undefined
  }

  try {
    return new SemVer(
      version instanceof SemVer ? version.version : version,
      options
    ).inc(release, identifier, identifierBase).version
  } catch (er) {
    return null
  }
}
module.exports = inc


/***/ }),

/***/ 3872:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const lt = (a, b, loose) => compare(a, b, loose) < 0
module.exports = lt


/***/ }),

/***/ 6717:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const lte = (a, b, loose) => compare(a, b, loose) <= 0
module.exports = lte


/***/ }),

/***/ 8511:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const major = (a, loose) => new SemVer(a, loose).major
module.exports = major


/***/ }),

/***/ 2603:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const minor = (a, loose) => new SemVer(a, loose).minor
module.exports = minor


/***/ }),

/***/ 4974:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const neq = (a, b, loose) => compare(a, b, loose) !== 0
module.exports = neq


/***/ }),

/***/ 6353:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const parse = (version, options, throwErrors = false) => {
  if (version instanceof SemVer) {
    return version
  }
  try {
    return new SemVer(version, options)
  } catch (er) {
    if (!throwErrors) {
      return null
    }
    throw er
  }
}

module.exports = parse


/***/ }),

/***/ 8756:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const patch = (a, loose) => new SemVer(a, loose).patch
module.exports = patch


/***/ }),

/***/ 5714:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const parse = __nccwpck_require__(6353)
const prerelease = (version, options) => {
  const parsed = parse(version, options)
  return (parsed && parsed.prerelease.length) ? parsed.prerelease : null
}
module.exports = prerelease


/***/ }),

/***/ 2173:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compare = __nccwpck_require__(8469)
const rcompare = (a, b, loose) => compare(b, a, loose)
module.exports = rcompare


/***/ }),

/***/ 7192:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compareBuild = __nccwpck_require__(7648)
const rsort = (list, loose) => list.sort((a, b) => compareBuild(b, a, loose))
module.exports = rsort


/***/ }),

/***/ 8011:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const Range = __nccwpck_require__(6782)
const satisfies = (version, range, options) => {
  try {
    range = new Range(range, options)
  } catch (er) {
    return false
  }
  return range.test(version)
}
module.exports = satisfies


/***/ }),

/***/ 9872:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const compareBuild = __nccwpck_require__(7648)
const sort = (list, loose) => list.sort((a, b) => compareBuild(a, b, loose))
module.exports = sort


/***/ }),

/***/ 6114:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const parse = __nccwpck_require__(6353)
const constants = __nccwpck_require__(5101)
const SemVer = __nccwpck_require__(7163)

const truncate = (version, truncation, options) => {
  if (!constants.RELEASE_TYPES.includes(truncation)) {
    return null
  }

  const clonedVersion = cloneInputVersion(version, options)
  return clonedVersion && doTruncation(clonedVersion, truncation)
}

const cloneInputVersion = (version, options) => {
  const versionStringToParse = (
    version instanceof SemVer ? version.version : version
  )

  return parse(versionStringToParse, options)
}

const doTruncation = (version, truncation) => {
  if (isPrerelease(truncation)) {
    return version.version
  }

  version.prerelease = []

  switch (truncation) {
    case 'major':
      version.minor = 0
      version.patch = 0
      break
    case 'minor':
      version.patch = 0
      break
  }

  return version.format()
}

const isPrerelease = (type) => {
  return type.startsWith('pre')
}

module.exports = truncate


/***/ }),

/***/ 8780:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const parse = __nccwpck_require__(6353)
const valid = (version, options) => {
  const v = parse(version, options)
  return v ? v.version : null
}
module.exports = valid


/***/ }),

/***/ 2088:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



// just pre-load all the stuff that index.js lazily exports
const internalRe = __nccwpck_require__(5471)
const constants = __nccwpck_require__(5101)
const SemVer = __nccwpck_require__(7163)
const identifiers = __nccwpck_require__(3348)
const parse = __nccwpck_require__(6353)
const valid = __nccwpck_require__(8780)
const clean = __nccwpck_require__(1799)
const inc = __nccwpck_require__(2338)
const diff = __nccwpck_require__(711)
const major = __nccwpck_require__(8511)
const minor = __nccwpck_require__(2603)
const patch = __nccwpck_require__(8756)
const prerelease = __nccwpck_require__(5714)
const compare = __nccwpck_require__(8469)
const rcompare = __nccwpck_require__(2173)
const compareLoose = __nccwpck_require__(6874)
const compareBuild = __nccwpck_require__(7648)
const sort = __nccwpck_require__(9872)
const rsort = __nccwpck_require__(7192)
const gt = __nccwpck_require__(6599)
const lt = __nccwpck_require__(3872)
const eq = __nccwpck_require__(5082)
const neq = __nccwpck_require__(4974)
const gte = __nccwpck_require__(1236)
const lte = __nccwpck_require__(6717)
const cmp = __nccwpck_require__(8646)
const coerce = __nccwpck_require__(5385)
const truncate = __nccwpck_require__(6114)
const Comparator = __nccwpck_require__(9379)
const Range = __nccwpck_require__(6782)
const satisfies = __nccwpck_require__(8011)
const toComparators = __nccwpck_require__(4750)
const maxSatisfying = __nccwpck_require__(3193)
const minSatisfying = __nccwpck_require__(8595)
const minVersion = __nccwpck_require__(1866)
const validRange = __nccwpck_require__(4737)
const outside = __nccwpck_require__(280)
const gtr = __nccwpck_require__(2276)
const ltr = __nccwpck_require__(5213)
const intersects = __nccwpck_require__(3465)
const simplifyRange = __nccwpck_require__(2028)
const subset = __nccwpck_require__(1489)
module.exports = {
  parse,
  valid,
  clean,
  inc,
  diff,
  major,
  minor,
  patch,
  prerelease,
  compare,
  rcompare,
  compareLoose,
  compareBuild,
  sort,
  rsort,
  gt,
  lt,
  eq,
  neq,
  gte,
  lte,
  cmp,
  coerce,
  truncate,
  Comparator,
  Range,
  satisfies,
  toComparators,
  maxSatisfying,
  minSatisfying,
  minVersion,
  validRange,
  outside,
  gtr,
  ltr,
  intersects,
  simplifyRange,
  subset,
  SemVer,
  re: internalRe.re,
  src: internalRe.src,
  tokens: internalRe.t,
  SEMVER_SPEC_VERSION: constants.SEMVER_SPEC_VERSION,
  RELEASE_TYPES: constants.RELEASE_TYPES,
  compareIdentifiers: identifiers.compareIdentifiers,
  rcompareIdentifiers: identifiers.rcompareIdentifiers,
}


/***/ }),

/***/ 5101:
/***/ ((module) => {



// Note: this is the semver.org version of the spec that it implements
// Not necessarily the package version of this code.
const SEMVER_SPEC_VERSION = '2.0.0'

const MAX_LENGTH = 256
const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER ||
/* istanbul ignore next */ 9007199254740991

// Max safe segment length for coercion.
const MAX_SAFE_COMPONENT_LENGTH = 16

// Max safe length for a build identifier. The max length minus 6 characters for
// the shortest version with a build 0.0.0+BUILD.
const MAX_SAFE_BUILD_LENGTH = MAX_LENGTH - 6

// ECMAScript whitespace and line terminators matched by \s.
const WHITESPACE_CHARACTERS = [
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  ' ',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u2001',
  '\u2002',
  '\u2003',
  '\u2004',
  '\u2005',
  '\u2006',
  '\u2007',
  '\u2008',
  '\u2009',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
]

const RELEASE_TYPES = [
  'major',
  'premajor',
  'minor',
  'preminor',
  'patch',
  'prepatch',
  'prerelease',
]

module.exports = {
  MAX_LENGTH,
  MAX_SAFE_COMPONENT_LENGTH,
  MAX_SAFE_BUILD_LENGTH,
  MAX_SAFE_INTEGER,
  WHITESPACE_CHARACTERS,
  RELEASE_TYPES,
  SEMVER_SPEC_VERSION,
  FLAG_INCLUDE_PRERELEASE: 0b001,
  FLAG_LOOSE: 0b010,
}


/***/ }),

/***/ 1159:
/***/ ((module) => {



const debug = (
  typeof process === 'object' &&
  process.env &&
  process.env.NODE_DEBUG &&
  /\bsemver\b/i.test(process.env.NODE_DEBUG)
) ? (...args) => console.error('SEMVER', ...args)
  : () => {}

module.exports = debug


/***/ }),

/***/ 3348:
/***/ ((module) => {



const numeric = /^[0-9]+$/
const compareIdentifiers = (a, b) => {
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b ? 0 : a < b ? -1 : 1
  }

  const anum = numeric.test(a)
  const bnum = numeric.test(b)

  if (anum && bnum) {
    a = +a
    b = +b
  }

  return a === b ? 0
    : (anum && !bnum) ? -1
    : (bnum && !anum) ? 1
    : a < b ? -1
    : 1
}

const rcompareIdentifiers = (a, b) => compareIdentifiers(b, a)

module.exports = {
  compareIdentifiers,
  rcompareIdentifiers,
}


/***/ }),

/***/ 1383:
/***/ ((module) => {



class LRUCache {
  constructor () {
    this.max = 1000
    this.map = new Map()
  }

  get (key) {
    const value = this.map.get(key)
    if (value === undefined) {
      return undefined
    } else {
      // Remove the key from the map and add it to the end
      this.map.delete(key)
      this.map.set(key, value)
      return value
    }
  }

  delete (key) {
    return this.map.delete(key)
  }

  set (key, value) {
    const deleted = this.delete(key)

    if (!deleted && value !== undefined) {
      // If cache is full, delete the least recently used item
      if (this.map.size >= this.max) {
        const firstKey = this.map.keys().next().value
        this.delete(firstKey)
      }

      this.map.set(key, value)
    }

    return this
  }
}

module.exports = LRUCache


/***/ }),

/***/ 356:
/***/ ((module) => {



// parse out just the options we care about
const looseOption = Object.freeze({ loose: true })
const emptyOpts = Object.freeze({ })
const parseOptions = options => {
  if (!options) {
    return emptyOpts
  }

  if (typeof options !== 'object') {
    return looseOption
  }

  return options
}
module.exports = parseOptions


/***/ }),

/***/ 5471:
/***/ ((module, exports, __nccwpck_require__) => {



const {
  MAX_SAFE_COMPONENT_LENGTH,
  MAX_SAFE_BUILD_LENGTH,
  MAX_LENGTH,
} = __nccwpck_require__(5101)
const debug = __nccwpck_require__(1159)
exports = module.exports = {}

// The actual regexps go on exports.re
const re = exports.re = []
const safeRe = exports.safeRe = []
const src = exports.src = []
const safeSrc = exports.safeSrc = []
const t = exports.t = {}
let R = 0

const LETTERDASHNUMBER = '[a-zA-Z0-9-]'

// Replace some greedy regex tokens to prevent regex dos issues. These regex are
// used internally via the safeRe object since all inputs in this library get
// normalized first to trim and collapse all extra whitespace. The original
// regexes are exported for userland consumption and lower level usage. A
// future breaking change could export the safer regex only with a note that
// all input should have extra whitespace removed.
const safeRegexReplacements = [
  ['\\s', 1],
  ['\\d', MAX_LENGTH],
  [LETTERDASHNUMBER, MAX_SAFE_BUILD_LENGTH],
]

const makeSafeRegex = (value) => {
  for (const [token, max] of safeRegexReplacements) {
    value = value
      .split(`${token}*`).join(`${token}{0,${max}}`)
      .split(`${token}+`).join(`${token}{1,${max}}`)
  }
  return value
}

const createToken = (name, value, isGlobal) => {
  const safe = makeSafeRegex(value)
  const index = R++
  debug(name, index, value)
  t[name] = index
  src[index] = value
  safeSrc[index] = safe
  re[index] = new RegExp(value, isGlobal ? 'g' : undefined)
  safeRe[index] = new RegExp(safe, isGlobal ? 'g' : undefined)
}

// The following Regular Expressions can be used for tokenizing,
// validating, and parsing SemVer version strings.

// ## Numeric Identifier
// A single `0`, or a non-zero digit followed by zero or more digits.

createToken('NUMERICIDENTIFIER', '0|[1-9]\\d*')
createToken('NUMERICIDENTIFIERLOOSE', '\\d+')

// ## Non-numeric Identifier
// Zero or more digits, followed by a letter or hyphen, and then zero or
// more letters, digits, or hyphens.

createToken('NONNUMERICIDENTIFIER', `\\d*[a-zA-Z-]${LETTERDASHNUMBER}*`)

// ## Main Version
// Three dot-separated numeric identifiers.

createToken('MAINVERSION', `(${src[t.NUMERICIDENTIFIER]})\\.` +
                   `(${src[t.NUMERICIDENTIFIER]})\\.` +
                   `(${src[t.NUMERICIDENTIFIER]})`)

createToken('MAINVERSIONLOOSE', `(${src[t.NUMERICIDENTIFIERLOOSE]})\\.` +
                        `(${src[t.NUMERICIDENTIFIERLOOSE]})\\.` +
                        `(${src[t.NUMERICIDENTIFIERLOOSE]})`)

// ## Pre-release Version Identifier
// A numeric identifier, or a non-numeric identifier.
// Non-numeric identifiers include numeric identifiers but can be longer.
// Therefore non-numeric identifiers must go first.

createToken('PRERELEASEIDENTIFIER', `(?:${src[t.NONNUMERICIDENTIFIER]
}|${src[t.NUMERICIDENTIFIER]})`)

createToken('PRERELEASEIDENTIFIERLOOSE', `(?:${src[t.NONNUMERICIDENTIFIER]
}|${src[t.NUMERICIDENTIFIERLOOSE]})`)

// ## Pre-release Version
// Hyphen, followed by one or more dot-separated pre-release version
// identifiers.

createToken('PRERELEASE', `(?:-(${src[t.PRERELEASEIDENTIFIER]
}(?:\\.${src[t.PRERELEASEIDENTIFIER]})*))`)

createToken('PRERELEASELOOSE', `(?:-?(${src[t.PRERELEASEIDENTIFIERLOOSE]
}(?:\\.${src[t.PRERELEASEIDENTIFIERLOOSE]})*))`)

// ## Build Metadata Identifier
// Any combination of digits, letters, or hyphens.

createToken('BUILDIDENTIFIER', `${LETTERDASHNUMBER}+`)

// ## Build Metadata
// Plus sign, followed by one or more period-separated build metadata
// identifiers.

createToken('BUILD', `(?:\\+(${src[t.BUILDIDENTIFIER]
}(?:\\.${src[t.BUILDIDENTIFIER]})*))`)

// ## Full Version String
// A main version, followed optionally by a pre-release version and
// build metadata.

// Note that the only major, minor, patch, and pre-release sections of
// the version string are capturing groups.  The build metadata is not a
// capturing group, because it should not ever be used in version
// comparison.

createToken('FULLPLAIN', `v?${src[t.MAINVERSION]
}${src[t.PRERELEASE]}?${
  src[t.BUILD]}?`)

createToken('FULL', `^${src[t.FULLPLAIN]}$`)

// like full, but allows v1.2.3 and =1.2.3, which people do sometimes.
// also, 1.0.0alpha1 (prerelease without the hyphen) which is pretty
// common in the npm registry.
createToken('LOOSEPLAIN', `[v=\\s]*${src[t.MAINVERSIONLOOSE]
}${src[t.PRERELEASELOOSE]}?${
  src[t.BUILD]}?`)

createToken('LOOSE', `^${src[t.LOOSEPLAIN]}$`)

createToken('GTLT', '((?:<|>)?=?)')

// Something like "2.*" or "1.2.x".
// Note that "x.x" is a valid xRange identifier, meaning "any version"
// Only the first item is strictly required.
createToken('XRANGEIDENTIFIERLOOSE', `${src[t.NUMERICIDENTIFIERLOOSE]}|x|X|\\*`)
createToken('XRANGEIDENTIFIER', `${src[t.NUMERICIDENTIFIER]}|x|X|\\*`)

createToken('XRANGEPLAIN', `[v=\\s]*(${src[t.XRANGEIDENTIFIER]})` +
                   `(?:\\.(${src[t.XRANGEIDENTIFIER]})` +
                   `(?:\\.(${src[t.XRANGEIDENTIFIER]})` +
                   `(?:${src[t.PRERELEASE]})?${
                     src[t.BUILD]}?` +
                   `)?)?`)

createToken('XRANGEPLAINLOOSE', `[v=\\s]*(${src[t.XRANGEIDENTIFIERLOOSE]})` +
                        `(?:\\.(${src[t.XRANGEIDENTIFIERLOOSE]})` +
                        `(?:\\.(${src[t.XRANGEIDENTIFIERLOOSE]})` +
                        `(?:${src[t.PRERELEASELOOSE]})?${
                          src[t.BUILD]}?` +
                        `)?)?`)

createToken('XRANGE', `^${src[t.GTLT]}\\s*${src[t.XRANGEPLAIN]}$`)
createToken('XRANGELOOSE', `^${src[t.GTLT]}\\s*${src[t.XRANGEPLAINLOOSE]}$`)

// Coercion.
// Extract anything that could conceivably be a part of a valid semver
createToken('COERCEPLAIN', `${'(^|[^\\d])' +
              '(\\d{1,'}${MAX_SAFE_COMPONENT_LENGTH}})` +
              `(?:\\.(\\d{1,${MAX_SAFE_COMPONENT_LENGTH}}))?` +
              `(?:\\.(\\d{1,${MAX_SAFE_COMPONENT_LENGTH}}))?`)
createToken('COERCE', `${src[t.COERCEPLAIN]}(?:$|[^\\d])`)
createToken('COERCEFULL', src[t.COERCEPLAIN] +
              `(?:${src[t.PRERELEASE]})?` +
              `(?:${src[t.BUILD]})?` +
              `(?:$|[^\\d])`)
createToken('COERCERTL', src[t.COERCE], true)
createToken('COERCERTLFULL', src[t.COERCEFULL], true)

// Tilde ranges.
// Meaning is "reasonably at or greater than"
createToken('LONETILDE', '(?:~>?)')

createToken('TILDETRIM', `(\\s*)${src[t.LONETILDE]}\\s+`, true)
exports.tildeTrimReplace = '$1~'

createToken('TILDE', `^${src[t.LONETILDE]}${src[t.XRANGEPLAIN]}$`)
createToken('TILDELOOSE', `^${src[t.LONETILDE]}${src[t.XRANGEPLAINLOOSE]}$`)

// Caret ranges.
// Meaning is "at least and backwards compatible with"
createToken('LONECARET', '(?:\\^)')

createToken('CARETTRIM', `(\\s*)${src[t.LONECARET]}\\s+`, true)
exports.caretTrimReplace = '$1^'

createToken('CARET', `^${src[t.LONECARET]}${src[t.XRANGEPLAIN]}$`)
createToken('CARETLOOSE', `^${src[t.LONECARET]}${src[t.XRANGEPLAINLOOSE]}$`)

// A simple gt/lt/eq thing, or just "" to indicate "any version"
createToken('COMPARATORLOOSE', `^${src[t.GTLT]}\\s*(${src[t.LOOSEPLAIN]})$|^$`)
createToken('COMPARATOR', `^${src[t.GTLT]}\\s*(${src[t.FULLPLAIN]})$|^$`)

// An expression to strip any whitespace between the gtlt and the thing
// it modifies, so that `> 1.2.3` ==> `>1.2.3`
createToken('COMPARATORTRIM', `(\\s*)${src[t.GTLT]
}\\s*(${src[t.LOOSEPLAIN]}|${src[t.XRANGEPLAIN]})`, true)
exports.comparatorTrimReplace = '$1$2$3'

// Something like `1.2.3 - 1.2.4`
// Note that these all use the loose form, because they'll be
// checked against either the strict or loose comparator form
// later.
createToken('HYPHENRANGE', `^\\s*(${src[t.XRANGEPLAIN]})` +
                   `\\s+-\\s+` +
                   `(${src[t.XRANGEPLAIN]})` +
                   `\\s*$`)

createToken('HYPHENRANGELOOSE', `^\\s*(${src[t.XRANGEPLAINLOOSE]})` +
                        `\\s+-\\s+` +
                        `(${src[t.XRANGEPLAINLOOSE]})` +
                        `\\s*$`)

// Star ranges basically just allow anything at all.
createToken('STAR', '(<|>)?=?\\s*\\*')
// >=0.0.0 is like a star
createToken('GTE0', '^\\s*>=\\s*0\\.0\\.0\\s*$')
createToken('GTE0PRE', '^\\s*>=\\s*0\\.0\\.0-0\\s*$')


/***/ }),

/***/ 9737:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

// @ts-check


// Reproduce safeRe[COMPARATORTRIM] replacement boundaries, not version
// validation. Each end-index finder returns an exclusive end, or its start
// on no match.
// Positions count from zero. An end of 3 means characters 0, 1, and 2 were read;
// range.slice(start, end) gives the matched text, not a converted number.
const {
  MAX_LENGTH,
  MAX_SAFE_BUILD_LENGTH,
  WHITESPACE_CHARACTERS,
} = __nccwpck_require__(5101)

/**
 * Remembers the last two rows of digits so their characters need not be reread.
 * Positions start at -1 until a row has been found.
 *
 * @typedef {object} DigitRunCache
 * @property {number} start The first character of the most recently found row.
 * @property {number} end The position after that row's last character.
 * @property {number} previousStart The first character of the previous row.
 * @property {number} previousEnd The position after the previous row.
 */

// One entry per UTF-16 code unit keeps membership checks constant-time.
const whitespace = new Uint8Array(0x10000)
for (const char of WHITESPACE_CHARACTERS) {
  whitespace[char.charCodeAt(0)] = 1
}

/**
 * Checks whether a character is whitespace, like a space, tab, or newline.
 * Looking past the end of the string returns false.
 *
 * @param {string|undefined} char One character, or undefined past the string's end.
 * @returns {boolean} Whether the character is whitespace.
 * @example isWhitespace(' ') // true
 * @example isWhitespace('1') // false
 */
const isWhitespace = char =>
  char !== undefined && whitespace[char.charCodeAt(0)] === 1

/**
 * Checks for v, =, or whitespace before the version number.
 * These are historical version prefixes, not range operators:
 * < and > are handled separately, as are tilde and caret ranges.
 *
 * @param {string|undefined} char One character to check.
 * @returns {boolean} Whether the character can belong to a version prefix.
 * @example isVersionPrefix('=') // true
 * @example isVersionPrefix('>') // false
 */
const isVersionPrefix = char =>
  char === 'v' ||
  char === '=' ||
  isWhitespace(char)

/**
 * Checks whether a character is one of the digits 0 through 9.
 *
 * @param {string|undefined} char One character to check.
 * @returns {boolean} Whether the character is an ASCII digit.
 * @example isDigit('7') // true
 * @example isDigit('.') // false
 */
const isDigit = char => char !== undefined && char >= '0' && char <= '9'

/**
 * Checks whether a character is an English letter, uppercase or lowercase.
 *
 * @param {string|undefined} char One character to check.
 * @returns {boolean} Whether the character is an ASCII letter.
 * @example isLetter('b') // true
 * @example isLetter('7') // false
 */
const isLetter = char =>
  char !== undefined && (
    (char >= 'a' && char <= 'z') ||
    (char >= 'A' && char <= 'Z')
  )

/**
 * Checks for a letter, digit, or hyphen: the characters allowed inside
 * prerelease and build names such as beta-1.
 *
 * @param {string|undefined} char One character to check.
 * @returns {boolean} Whether the character can be part of an identifier.
 * @example isIdentifierCharacter('-') // true
 * @example isIdentifierCharacter('.') // false; dots separate identifiers
 */
const isIdentifierCharacter = char => isDigit(char) || isLetter(char) || char === '-'

/**
 * Checks whether a version component can begin here: with a digit or
 * a wildcard such as x, X, or *.
 *
 * @param {string|undefined} char One character to check.
 * @returns {boolean} Whether a number or wildcard can start with this character.
 * @example isVersionStart('x') // true
 * @example isVersionStart('v') // false; v belongs to the prefix
 */
const isVersionStart = char =>
  isDigit(char) ||
  char === 'x' ||
  char === 'X' ||
  char === '*'

/**
 * Finds the end of a row of digits, but returns no more than limit digits.
 * Remembers the last two rows so looking at them again does not reread them.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position of the first character to check.
 * @param {number} limit The most digit characters the returned match can include.
 * @param {DigitRunCache} digitRuns Shared cache of digit-run positions, updated in place.
 * @returns {number} The position after the matched digits, or start if none match.
 * @example findDigitsEndIndex('123abc', 0, 10, digitRuns) // 3, pointing at a
 * @example findDigitsEndIndex('123abc', 0, 2, digitRuns) // 2, pointing at the unread 3
 */
const findDigitsEndIndex = (range, start, limit, digitRuns) => {
  if (!isDigit(range[start])) {
    return start
  }
  if (start >= digitRuns.start && start < digitRuns.end) {
    return Math.min(start + limit, digitRuns.end)
  }
  if (start >= digitRuns.previousStart && start < digitRuns.previousEnd) {
    return Math.min(start + limit, digitRuns.previousEnd)
  }
  let end = start + 1
  while (isDigit(range[end])) {
    end++
  }
  // A failed full version can rewind from its second run to its first.
  digitRuns.previousStart = digitRuns.start
  digitRuns.previousEnd = digitRuns.end
  digitRuns.start = start
  digitRuns.end = end
  return Math.min(start + limit, end)
}

/**
 * Reads a number using the old regex's length and leading-zero rules.
 * Strict mode reads just the first zero in 012; loose mode can read all three.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position where the number should begin.
 * @param {boolean} loose Whether to allow leading zeros.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position after the matched digits, not their numeric value.
 * @example findVersionNumberEndIndex('012', 0, false, digitRuns) // 1
 * @example findVersionNumberEndIndex('012', 0, true, digitRuns) // 3
 */
const findVersionNumberEndIndex = (range, start, loose, digitRuns) => {
  if (!loose && range[start] === '0') {
    return start + 1
  }
  // Strict syntax allows an initial nonzero digit plus MAX_LENGTH digits.
  return findDigitsEndIndex(range, start, loose ? MAX_LENGTH : MAX_LENGTH + 1, digitRuns)
}

/**
 * Reads one piece of a prerelease name, such as beta or 1 in beta.1.
 * Tries the letter-or-hyphen form first, then the number-only form.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position where the identifier should begin.
 * @param {boolean} loose Whether numeric identifiers may have leading zeros.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position after the identifier, or start if none matches.
 * @example findPrereleaseIdentifierEndIndex('beta.1', 0, false, digitRuns) // 4, at the dot
 * @example findPrereleaseIdentifierEndIndex('001beta', 0, false, digitRuns) // 7
 */
const findPrereleaseIdentifierEndIndex = (range, start, loose, digitRuns) => {
  const digitsEnd = findDigitsEndIndex(range, start, MAX_LENGTH, digitRuns)
  // The legacy regex tries a nonnumeric identifier before a numeric one.
  if (isLetter(range[digitsEnd]) || range[digitsEnd] === '-') {
    let end = digitsEnd + 1
    const limit = end + MAX_SAFE_BUILD_LENGTH
    while (end < limit && isIdentifierCharacter(range[end])) {
      end++
    }
    return end
  }
  return findVersionNumberEndIndex(range, start, loose, digitRuns)
}

/**
 * Reads a prerelease suffix such as -beta.1, one dot-separated piece at a time.
 * Loose mode also allows the name without its opening hyphen.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position where the suffix should begin, including -.
 * @param {boolean} loose Whether the opening hyphen is optional and zeros allowed.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position after the matched suffix, or start if absent.
 * @example findPrereleaseEndIndex('-beta.1+sha', 0, false, digitRuns) // 7, at the plus
 * @example findPrereleaseEndIndex('beta', 0, false, digitRuns) // 0; no opening hyphen
 */
const findPrereleaseEndIndex = (range, start, loose, digitRuns) => {
  const hyphen = range[start] === '-'
  if (!loose && !hyphen) {
    return start
  }
  const identifierStart = start + (hyphen ? 1 : 0)
  let end = findPrereleaseIdentifierEndIndex(range, identifierStart, loose, digitRuns)
  if (end === identifierStart) {
    if (!loose || !hyphen) {
      return start
    }
    // In loose syntax, a lone hyphen can itself be the identifier.
    end = findPrereleaseIdentifierEndIndex(range, start, loose, digitRuns)
  }
  while (range[end] === '.') {
    const next = findPrereleaseIdentifierEndIndex(range, end + 1, loose, digitRuns)
    if (next === end + 1) {
      break
    }
    end = next
  }
  return end
}

/**
 * Reads one build-name piece, such as sha or 123 in +sha.123.
 * Stops at a disallowed character or the old regex's length limit.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position where the identifier should begin.
 * @returns {number} The position after the identifier, or start if none matches.
 * @example findBuildIdentifierEndIndex('sha.123', 0) // 3, at the dot
 * @example findBuildIdentifierEndIndex('001', 0) // 3; leading zeros are allowed
 */
const findBuildIdentifierEndIndex = (range, start) => {
  let end = start
  while (end - start < MAX_SAFE_BUILD_LENGTH && isIdentifierCharacter(range[end])) {
    end++
  }
  return end
}

/**
 * Reads optional build metadata such as +sha.123.
 * Leaves the position unchanged if there is no plus sign followed by a name.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position where the opening + should be.
 * @returns {number} The position after the matched metadata, or start if absent.
 * @example findBuildEndIndex('+sha.123 <2', 0) // 8, at the space
 * @example findBuildEndIndex('+', 0) // 0; a plus sign alone is not a match
 */
const findBuildEndIndex = (range, start) => {
  if (range[start] !== '+') {
    return start
  }
  let end = findBuildIdentifierEndIndex(range, start + 1)
  if (end === start + 1) {
    return start
  }
  while (range[end] === '.') {
    const next = findBuildIdentifierEndIndex(range, end + 1)
    if (next === end + 1) {
      break
    }
    end = next
  }
  return end
}

/**
 * Reads three numbers separated by dots, then any prerelease and build suffixes.
 * Uses loose rules, so forms such as 01.02.03beta can match here.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position of the first number, after any prefix.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position after the version match, or start if none matches.
 * @example findLooseFullVersionEndIndex('1.2.3-beta+sha <2', 0, digitRuns) // 14
 * @example findLooseFullVersionEndIndex('1.2', 0, digitRuns) // 0; needs three numbers
 */
const findLooseFullVersionEndIndex = (range, start, digitRuns) => {
  let end = start
  for (let component = 0; component < 3; component++) {
    const next = findVersionNumberEndIndex(range, end, true, digitRuns)
    if (next === end) {
      return start
    }
    end = next
    if (component < 2) {
      if (range[end] !== '.') {
        return start
      }
      end++
    }
  }
  const prereleaseEnd = findPrereleaseEndIndex(range, end, true, digitRuns)
  return findBuildEndIndex(range, prereleaseEnd)
}

/**
 * Reads one component of a partial or wildcard version, such as 2 or x in 2.x.
 * Numbers use strict leading-zero rules; wildcards take up one character.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position where the component should begin.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position after the component, or start if none matches.
 * @example findPartialVersionComponentEndIndex('2.x', 0, digitRuns) // 1, at the dot
 * @example findPartialVersionComponentEndIndex('2.x', 2, digitRuns) // 3, after x
 */
const findPartialVersionComponentEndIndex = (range, start, digitRuns) => {
  if (isDigit(range[start])) {
    return findVersionNumberEndIndex(range, start, false, digitRuns)
  }
  return isVersionStart(range[start]) ? start + 1 : start
}

/**
 * Reads up to three components, allowing forms such as 1, 1.2, or 1.x.
 * After the third component, also reads any strict prerelease and build suffixes.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position of a number or wildcard, after any prefix.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position after the matched version text.
 * @example findPartialVersionEndIndex('1.x <2', 0, digitRuns) // 3, at the space
 * @example findPartialVersionEndIndex('1.', 0, digitRuns) // 1; the trailing dot is unread
 */
const findPartialVersionEndIndex = (range, start, digitRuns) => {
  let end = findPartialVersionComponentEndIndex(range, start, digitRuns)
  for (let component = 0; component < 2; component++) {
    if (range[end] !== '.') {
      return end
    }
    const next = findPartialVersionComponentEndIndex(range, end + 1, digitRuns)
    if (next === end + 1) {
      return end
    }
    end = next
  }
  const prereleaseEnd = findPrereleaseEndIndex(range, end, false, digitRuns)
  return findBuildEndIndex(range, prereleaseEnd)
}

/**
 * Finds where a version match ends, without deciding whether the range is valid.
 * Tries a loose full version first, then a partial or wildcard version, just
 * like the old regex's LOOSEPLAIN and XRANGEPLAIN alternatives.
 *
 * @param {string} range The text to read; it is not changed.
 * @param {number} start The position of a number or wildcard, after any prefix.
 * @param {DigitRunCache} digitRuns Shared digit-run cache, updated as needed.
 * @returns {number} The position where scanning the next candidate can resume.
 * @example findVersionEndIndex('1.2.3 <2', 0, digitRuns) // 5, at the space
 * @example findVersionEndIndex('1.x <2', 0, digitRuns) // 3, at the space
 */
const findVersionEndIndex = (range, start, digitRuns) => {
  const fullVersionEnd = findLooseFullVersionEndIndex(range, start, digitRuns)
  return fullVersionEnd !== start
    ? fullVersionEnd
    : findPartialVersionEndIndex(range, start, digitRuns)
}

/**
 * Finds the one whitespace character the old replacement would remove.
 * Keeps leading whitespace, skips an optional operator, and checks immediately
 * after it. Returns -1 if there is nothing to remove.
 *
 * @param {string} range The text containing a candidate already found by the caller.
 * @param {number} matchStart The candidate's position, including leading whitespace.
 * @returns {number} The position of the removable whitespace, or -1 if absent.
 * @example findRemovableWhitespaceIndex(' > 1', 0) // 2; keep the space at position 0
 * @example findRemovableWhitespaceIndex('>1', 0) // -1
 */
const findRemovableWhitespaceIndex = (range, matchStart) => {
  let position = matchStart
  if (isWhitespace(range[position])) {
    position++
  }
  if (range[position] === '<' || range[position] === '>') {
    position++
  }
  if (range[position] === '=') {
    position++
  }
  return isWhitespace(range[position]) ? position : -1
}

/**
 * Joins an operator to its version, turning > 1.2.3 into >1.2.3.
 * Copies everything else according to the old regex's matching rules.
 * Moves forward through prefixes and whole versions to avoid repeatedly
 * searching the same characters on long inputs.
 *
 * @param {string} range The range text to process; the original string is unchanged.
 * @returns {string} The range with matched operator whitespace removed.
 * @example trimComparatorWhitespace('> 1.2.3 < 2') // '>1.2.3 <2'
 * @example trimComparatorWhitespace('> invalid') // '> invalid'
 */
const trimComparatorWhitespace = range => {
  let result = ''
  let copyFrom = 0
  let cursor = 0
  const digitRuns = { start: -1, end: -1, previousStart: -1, previousEnd: -1 }

  while (cursor < range.length) {
    const matchStart = cursor
    if (range[cursor] === '<' || range[cursor] === '>') {
      cursor++
    } else if (!isVersionPrefix(range[cursor]) && !isVersionStart(range[cursor])) {
      cursor++
      continue
    }

    // Consume a v/=/whitespace run once, even when no version follows it.
    while (cursor < range.length && isVersionPrefix(range[cursor])) {
      cursor++
    }
    if (!isVersionStart(range[cursor])) {
      continue
    }

    const whitespacePosition = findRemovableWhitespaceIndex(range, matchStart)
    if (whitespacePosition !== -1) {
      result += range.slice(copyFrom, whitespacePosition)
      copyFrom = whitespacePosition + 1
    }

    // Skip the entire match, so a prerelease's trailing v cannot be
    // reconsidered as the prefix of another version.
    cursor = findVersionEndIndex(range, cursor, digitRuns)
  }

  return result + range.slice(copyFrom)
}

module.exports = trimComparatorWhitespace


/***/ }),

/***/ 2276:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



// Determine if version is greater than all the versions possible in the range.
const outside = __nccwpck_require__(280)
const gtr = (version, range, options) => outside(version, range, '>', options)
module.exports = gtr


/***/ }),

/***/ 3465:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const Range = __nccwpck_require__(6782)
const intersects = (r1, r2, options) => {
  r1 = new Range(r1, options)
  r2 = new Range(r2, options)
  return r1.intersects(r2, options)
}
module.exports = intersects


/***/ }),

/***/ 5213:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const outside = __nccwpck_require__(280)
// Determine if version is less than all the versions possible in the range
const ltr = (version, range, options) => outside(version, range, '<', options)
module.exports = ltr


/***/ }),

/***/ 3193:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const Range = __nccwpck_require__(6782)

const maxSatisfying = (versions, range, options) => {
  let max = null
  let maxSV = null
  let rangeObj = null
  try {
    rangeObj = new Range(range, options)
  } catch (er) {
    return null
  }
  versions.forEach((v) => {
    if (rangeObj.test(v)) {
      // satisfies(v, range, options)
      if (!max || maxSV.compare(v) === -1) {
        // compare(max, v, true)
        max = v
        maxSV = new SemVer(max, options)
      }
    }
  })
  return max
}
module.exports = maxSatisfying


/***/ }),

/***/ 8595:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const Range = __nccwpck_require__(6782)
const minSatisfying = (versions, range, options) => {
  let min = null
  let minSV = null
  let rangeObj = null
  try {
    rangeObj = new Range(range, options)
  } catch (er) {
    return null
  }
  versions.forEach((v) => {
    if (rangeObj.test(v)) {
      // satisfies(v, range, options)
      if (!min || minSV.compare(v) === 1) {
        // compare(min, v, true)
        min = v
        minSV = new SemVer(min, options)
      }
    }
  })
  return min
}
module.exports = minSatisfying


/***/ }),

/***/ 1866:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const Range = __nccwpck_require__(6782)
const gt = __nccwpck_require__(6599)

const minVersion = (range, loose) => {
  range = new Range(range, loose)

  let minver = new SemVer('0.0.0')
  if (range.test(minver)) {
    return minver
  }

  minver = new SemVer('0.0.0-0')
  if (range.test(minver)) {
    return minver
  }

  minver = null
  for (let i = 0; i < range.set.length; ++i) {
    const comparators = range.set[i]

    let setMin = null
    comparators.forEach((comparator) => {
      // Clone to avoid manipulating the comparator's semver object.
      const compver = new SemVer(comparator.semver.version)
      switch (comparator.operator) {
        case '>':
          if (compver.prerelease.length === 0) {
            compver.patch++
          } else {
            compver.prerelease.push(0)
          }
          compver.raw = compver.format()
          /* fallthrough */
        case '':
        case '>=':
          if (!setMin || gt(compver, setMin)) {
            setMin = compver
          }
          break
        case '<':
        case '<=':
          /* Ignore maximum versions */
          break
        /* istanbul ignore next */
        default:
          throw new Error(`Unexpected operation: ${comparator.operator}`)
      }
    })
    if (setMin && (!minver || gt(minver, setMin))) {
      minver = setMin
    }
  }

  if (minver && range.test(minver)) {
    return minver
  }

  return null
}
module.exports = minVersion


/***/ }),

/***/ 280:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const SemVer = __nccwpck_require__(7163)
const Comparator = __nccwpck_require__(9379)
const { ANY } = Comparator
const Range = __nccwpck_require__(6782)
const satisfies = __nccwpck_require__(8011)
const gt = __nccwpck_require__(6599)
const lt = __nccwpck_require__(3872)
const lte = __nccwpck_require__(6717)
const gte = __nccwpck_require__(1236)

const outside = (version, range, hilo, options) => {
  version = new SemVer(version, options)
  range = new Range(range, options)

  let gtfn, ltefn, ltfn, comp, ecomp
  switch (hilo) {
    case '>':
      gtfn = gt
      ltefn = lte
      ltfn = lt
      comp = '>'
      ecomp = '>='
      break
    case '<':
      gtfn = lt
      ltefn = gte
      ltfn = gt
      comp = '<'
      ecomp = '<='
      break
    default:
      throw new TypeError('Must provide a hilo val of "<" or ">"')
  }

  // If it satisfies the range it is not outside
  if (satisfies(version, range, options)) {
    return false
  }

  // From now on, variable terms are as if we're in "gtr" mode.
  // but note that everything is flipped for the "ltr" function.

  for (let i = 0; i < range.set.length; ++i) {
    const comparators = range.set[i]

    let high = null
    let low = null

    comparators.forEach((comparator) => {
      if (comparator.semver === ANY) {
        comparator = new Comparator('>=0.0.0')
      }
      high = high || comparator
      low = low || comparator
      if (gtfn(comparator.semver, high.semver, options)) {
        high = comparator
      } else if (ltfn(comparator.semver, low.semver, options)) {
        low = comparator
      }
    })

    // If the edge version comparator has a operator then our version
    // isn't outside it
    if (high.operator === comp || high.operator === ecomp) {
      return false
    }

    // If the lowest version comparator has an operator and our version
    // is less than it then it isn't higher than the range
    if ((!low.operator || low.operator === comp) &&
        ltefn(version, low.semver)) {
      return false
    } else if (low.operator === ecomp && ltfn(version, low.semver)) {
      return false
    }
  }
  return true
}

module.exports = outside


/***/ }),

/***/ 2028:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



// given a set of versions and a range, create a "simplified" range
// that includes the same versions that the original range does
// If the original range is shorter than the simplified one, return that.
const satisfies = __nccwpck_require__(8011)
const compare = __nccwpck_require__(8469)
module.exports = (versions, range, options) => {
  const set = []
  let first = null
  let prev = null
  const v = versions.sort((a, b) => compare(a, b, options))
  for (const version of v) {
    const included = satisfies(version, range, options)
    if (included) {
      prev = version
      if (!first) {
        first = version
      }
    } else {
      if (prev) {
        set.push([first, prev])
      }
      prev = null
      first = null
    }
  }
  if (first) {
    set.push([first, null])
  }

  const ranges = []
  for (const [min, max] of set) {
    if (min === max) {
      ranges.push(min)
    } else if (!max && min === v[0]) {
      ranges.push('*')
    } else if (!max) {
      ranges.push(`>=${min}`)
    } else if (min === v[0]) {
      ranges.push(`<=${max}`)
    } else {
      ranges.push(`${min} - ${max}`)
    }
  }
  const simplified = ranges.join(' || ')
  const original = typeof range.raw === 'string' ? range.raw : String(range)
  return simplified.length < original.length ? simplified : range
}


/***/ }),

/***/ 1489:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const Range = __nccwpck_require__(6782)
const Comparator = __nccwpck_require__(9379)
const { ANY } = Comparator
const satisfies = __nccwpck_require__(8011)
const compare = __nccwpck_require__(8469)

// Complex range `r1 || r2 || ...` is a subset of `R1 || R2 || ...` iff:
// - Every simple range `r1, r2, ...` is a null set, OR
// - Every simple range `r1, r2, ...` which is not a null set is a subset of
//   some `R1, R2, ...`
//
// Simple range `c1 c2 ...` is a subset of simple range `C1 C2 ...` iff:
// - If c is only the ANY comparator
//   - If C is only the ANY comparator, return true
//   - Else if in prerelease mode, return false
//   - else replace c with `[>=0.0.0]`
// - If C is only the ANY comparator
//   - if in prerelease mode, return true
//   - else replace C with `[>=0.0.0]`
// - Let EQ be the set of = comparators in c
// - If EQ is more than one, return true (null set)
// - Let GT be the highest > or >= comparator in c
// - Let LT be the lowest < or <= comparator in c
// - If GT and LT, and GT.semver > LT.semver, return true (null set)
// - If any C is a = range, and GT or LT are set, return false
// - If EQ
//   - If GT, and EQ does not satisfy GT, return true (null set)
//   - If LT, and EQ does not satisfy LT, return true (null set)
//   - If EQ satisfies every C, return true
//   - Else return false
// - If GT
//   - If GT.semver is lower than any > or >= comp in C, return false
//   - If GT is >=, and GT.semver does not satisfy every C, return false
//   - If GT.semver has a prerelease, and not in prerelease mode
//     - If no C has a prerelease and the GT.semver tuple, return false
// - If LT
//   - If LT.semver is greater than any < or <= comp in C, return false
//   - If LT is <=, and LT.semver does not satisfy every C, return false
//   - If LT.semver has a prerelease, and not in prerelease mode
//     - If no C has a prerelease and the LT.semver tuple, return false
// - Else return true

const subset = (sub, dom, options = {}) => {
  if (sub === dom) {
    return true
  }

  sub = new Range(sub, options)
  dom = new Range(dom, options)
  let sawNonNull = false

  OUTER: for (const simpleSub of sub.set) {
    for (const simpleDom of dom.set) {
      const isSub = simpleSubset(simpleSub, simpleDom, options)
      sawNonNull = sawNonNull || isSub !== null
      if (isSub) {
        continue OUTER
      }
    }
    // the null set is a subset of everything, but null simple ranges in
    // a complex range should be ignored.  so if we saw a non-null range,
    // then we know this isn't a subset, but if EVERY simple range was null,
    // then it is a subset.
    if (sawNonNull) {
      return false
    }
  }
  return true
}

const minimumVersionWithPreRelease = [new Comparator('>=0.0.0-0')]
const minimumVersion = [new Comparator('>=0.0.0')]

const simpleSubset = (sub, dom, options) => {
  if (sub === dom) {
    return true
  }

  if (sub.length === 1 && sub[0].semver === ANY) {
    if (dom.length === 1 && dom[0].semver === ANY) {
      return true
    } else if (options.includePrerelease) {
      sub = minimumVersionWithPreRelease
    } else {
      sub = minimumVersion
    }
  }

  if (dom.length === 1 && dom[0].semver === ANY) {
    if (options.includePrerelease) {
      return true
    } else {
      dom = minimumVersion
    }
  }

  const eqSet = new Set()
  let gt, lt
  for (const c of sub) {
    if (c.operator === '>' || c.operator === '>=') {
      gt = higherGT(gt, c, options)
    } else if (c.operator === '<' || c.operator === '<=') {
      lt = lowerLT(lt, c, options)
    } else {
      eqSet.add(c.semver)
    }
  }

  if (eqSet.size > 1) {
    return null
  }

  let gtltComp
  if (gt && lt) {
    gtltComp = compare(gt.semver, lt.semver, options)
    if (gtltComp > 0) {
      return null
    } else if (gtltComp === 0 && (gt.operator !== '>=' || lt.operator !== '<=')) {
      return null
    }
  }

  // will iterate one or zero times
  for (const eq of eqSet) {
    if (gt && !satisfies(eq, String(gt), options)) {
      return null
    }

    if (lt && !satisfies(eq, String(lt), options)) {
      return null
    }

    for (const c of dom) {
      if (!satisfies(eq, String(c), options)) {
        return false
      }
    }

    return true
  }

  let higher, lower
  let hasDomLT, hasDomGT
  // if the subset has a prerelease, we need a comparator in the superset
  // with the same tuple and a prerelease, or it's not a subset
  let needDomLTPre = lt &&
    !options.includePrerelease &&
    lt.semver.prerelease.length ? lt.semver : false
  let needDomGTPre = gt &&
    !options.includePrerelease &&
    gt.semver.prerelease.length ? gt.semver : false
  // exception: <1.2.3-0 is the same as <1.2.3
  if (needDomLTPre && needDomLTPre.prerelease.length === 1 &&
      lt.operator === '<' && needDomLTPre.prerelease[0] === 0) {
    needDomLTPre = false
  }

  for (const c of dom) {
    hasDomGT = hasDomGT || c.operator === '>' || c.operator === '>='
    hasDomLT = hasDomLT || c.operator === '<' || c.operator === '<='
    if (gt) {
      if (needDomGTPre) {
        if (c.semver.prerelease && c.semver.prerelease.length &&
            c.semver.major === needDomGTPre.major &&
            c.semver.minor === needDomGTPre.minor &&
            c.semver.patch === needDomGTPre.patch) {
          needDomGTPre = false
        }
      }
      if (c.operator === '>' || c.operator === '>=') {
        higher = higherGT(gt, c, options)
        if (higher === c && higher !== gt) {
          return false
        }
      } else if (gt.operator === '>=' && !c.test(gt.semver)) {
        return false
      }
    }
    if (lt) {
      if (needDomLTPre) {
        if (c.semver.prerelease && c.semver.prerelease.length &&
            c.semver.major === needDomLTPre.major &&
            c.semver.minor === needDomLTPre.minor &&
            c.semver.patch === needDomLTPre.patch) {
          needDomLTPre = false
        }
      }
      if (c.operator === '<' || c.operator === '<=') {
        lower = lowerLT(lt, c, options)
        if (lower === c && lower !== lt) {
          return false
        }
      } else if (lt.operator === '<=' && !c.test(lt.semver)) {
        return false
      }
    }
    if (!c.operator && (lt || gt) && gtltComp !== 0) {
      return false
    }
  }

  // if there was a < or >, and nothing in the dom, then must be false
  // UNLESS it was limited by another range in the other direction.
  // Eg, >1.0.0 <1.0.1 is still a subset of <2.0.0
  if (gt && hasDomLT && !lt && gtltComp !== 0) {
    return false
  }

  if (lt && hasDomGT && !gt && gtltComp !== 0) {
    return false
  }

  // we needed a prerelease range in a specific tuple, but didn't get one
  // then this isn't a subset.  eg >=1.2.3-pre is not a subset of >=1.0.0,
  // because it includes prereleases in the 1.2.3 tuple
  if (needDomGTPre || needDomLTPre) {
    return false
  }

  return true
}

// >=1.2.3 is lower than >1.2.3
const higherGT = (a, b, options) => {
  if (!a) {
    return b
  }
  const comp = compare(a.semver, b.semver, options)
  return comp > 0 ? a
    : comp < 0 ? b
    : b.operator === '>' && a.operator === '>=' ? b
    : a
}

// <=1.2.3 is higher than <1.2.3
const lowerLT = (a, b, options) => {
  if (!a) {
    return b
  }
  const comp = compare(a.semver, b.semver, options)
  return comp < 0 ? a
    : comp > 0 ? b
    : b.operator === '<' && a.operator === '<=' ? b
    : a
}

module.exports = subset


/***/ }),

/***/ 4750:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const Range = __nccwpck_require__(6782)

// Mostly just for testing and legacy API reasons
const toComparators = (range, options) =>
  new Range(range, options).set
    .map(comp => comp.map(c => c.value).join(' ').trim().split(' '))

module.exports = toComparators


/***/ }),

/***/ 4737:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const Range = __nccwpck_require__(6782)
const validRange = (range, options) => {
  try {
    // Return '*' instead of '' so that truthiness works.
    // This will throw if it's invalid anyway
    return new Range(range, options).range || '*'
  } catch (er) {
    return null
  }
}
module.exports = validRange


/***/ }),

/***/ 2613:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");

/***/ }),

/***/ 4434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 8611:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("http");

/***/ }),

/***/ 5692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("https");

/***/ }),

/***/ 9278:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("net");

/***/ }),

/***/ 4589:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:assert");

/***/ }),

/***/ 6698:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:async_hooks");

/***/ }),

/***/ 4573:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:buffer");

/***/ }),

/***/ 7540:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:console");

/***/ }),

/***/ 7598:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");

/***/ }),

/***/ 3053:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:diagnostics_channel");

/***/ }),

/***/ 610:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:dns");

/***/ }),

/***/ 8474:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:events");

/***/ }),

/***/ 7067:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");

/***/ }),

/***/ 2467:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http2");

/***/ }),

/***/ 7030:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");

/***/ }),

/***/ 643:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:perf_hooks");

/***/ }),

/***/ 1792:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:querystring");

/***/ }),

/***/ 7075:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");

/***/ }),

/***/ 1692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:tls");

/***/ }),

/***/ 3136:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");

/***/ }),

/***/ 7975:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");

/***/ }),

/***/ 3429:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util/types");

/***/ }),

/***/ 5919:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:worker_threads");

/***/ }),

/***/ 8522:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:zlib");

/***/ }),

/***/ 5574:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");

/***/ }),

/***/ 4756:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tls");

/***/ }),

/***/ 9023:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util");

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId](module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/******/ // expose the modules object (__webpack_modules__)
/******/ __nccwpck_require__.m = __webpack_modules__;
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/create fake namespace object */
/******/ (() => {
/******/ 	var getProto = Object.getPrototypeOf ? (obj) => (Object.getPrototypeOf(obj)) : (obj) => (obj.__proto__);
/******/ 	var leafPrototypes;
/******/ 	// create a fake namespace object
/******/ 	// mode & 1: value is a module id, require it
/******/ 	// mode & 2: merge all properties of value into the ns
/******/ 	// mode & 4: return value when already ns object
/******/ 	// mode & 16: return value when it's Promise-like
/******/ 	// mode & 8|1: behave like require
/******/ 	__nccwpck_require__.t = function(value, mode) {
/******/ 		if(mode & 1) value = this(value);
/******/ 		if(mode & 8) return value;
/******/ 		if(typeof value === 'object' && value) {
/******/ 			if((mode & 4) && value.__esModule) return value;
/******/ 			if((mode & 16) && typeof value.then === 'function') return value;
/******/ 		}
/******/ 		var ns = Object.create(null);
/******/ 		__nccwpck_require__.r(ns);
/******/ 		var def = {};
/******/ 		leafPrototypes = leafPrototypes || [null, getProto({}), getProto([]), getProto(getProto)];
/******/ 		for(var current = mode & 2 && value; typeof current == 'object' && !~leafPrototypes.indexOf(current); current = getProto(current)) {
/******/ 			Object.getOwnPropertyNames(current).forEach((key) => (def[key] = () => (value[key])));
/******/ 		}
/******/ 		def['default'] = () => (value);
/******/ 		__nccwpck_require__.d(ns, def);
/******/ 		return ns;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/ensure chunk */
/******/ (() => {
/******/ 	__nccwpck_require__.f = {};
/******/ 	// This file contains only the entry chunk.
/******/ 	// The chunk loading function for additional chunks
/******/ 	__nccwpck_require__.e = (chunkId) => {
/******/ 		return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 			__nccwpck_require__.f[key](chunkId, promises);
/******/ 			return promises;
/******/ 		}, []));
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/get javascript chunk filename */
/******/ (() => {
/******/ 	// This function allow to reference async chunks
/******/ 	__nccwpck_require__.u = (chunkId) => {
/******/ 		// return url for filenames based on template
/******/ 		return "" + chunkId + ".index.js";
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/******/ /* webpack/runtime/make namespace object */
/******/ (() => {
/******/ 	// define __esModule on exports
/******/ 	__nccwpck_require__.r = (exports) => {
/******/ 		if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 			Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 		}
/******/ 		Object.defineProperty(exports, '__esModule', { value: true });
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/import chunk loading */
/******/ (() => {
/******/ 	// no baseURI
/******/ 	
/******/ 	// object to store loaded and loading chunks
/******/ 	// undefined = chunk not loaded, null = chunk preloaded/prefetched
/******/ 	// [resolve, Promise] = chunk loading, 0 = chunk loaded
/******/ 	var installedChunks = {
/******/ 		792: 0
/******/ 	};
/******/ 	
/******/ 	var installChunk = (data) => {
/******/ 		var {ids, modules, runtime} = data;
/******/ 		// add "modules" to the modules object,
/******/ 		// then flag all "ids" as loaded and fire callback
/******/ 		var moduleId, chunkId, i = 0;
/******/ 		for(moduleId in modules) {
/******/ 			if(__nccwpck_require__.o(modules, moduleId)) {
/******/ 				__nccwpck_require__.m[moduleId] = modules[moduleId];
/******/ 			}
/******/ 		}
/******/ 		if(runtime) runtime(__nccwpck_require__);
/******/ 		for(;i < ids.length; i++) {
/******/ 			chunkId = ids[i];
/******/ 			if(__nccwpck_require__.o(installedChunks, chunkId) && installedChunks[chunkId]) {
/******/ 				installedChunks[chunkId][0]();
/******/ 			}
/******/ 			installedChunks[ids[i]] = 0;
/******/ 		}
/******/ 	
/******/ 	}
/******/ 	
/******/ 	__nccwpck_require__.f.j = (chunkId, promises) => {
/******/ 			// import() chunk loading for javascript
/******/ 			var installedChunkData = __nccwpck_require__.o(installedChunks, chunkId) ? installedChunks[chunkId] : undefined;
/******/ 			if(installedChunkData !== 0) { // 0 means "already installed".
/******/ 	
/******/ 				// a Promise means "currently loading".
/******/ 				if(installedChunkData) {
/******/ 					promises.push(installedChunkData[1]);
/******/ 				} else {
/******/ 					if(true) { // all chunks have JS
/******/ 						// setup Promise in chunk cache
/******/ 						var promise = import("./" + __nccwpck_require__.u(chunkId)).then(installChunk, (e) => {
/******/ 							if(installedChunks[chunkId] !== 0) installedChunks[chunkId] = undefined;
/******/ 							throw e;
/******/ 						});
/******/ 						var promise = Promise.race([promise, new Promise((resolve) => (installedChunkData = installedChunks[chunkId] = [resolve]))])
/******/ 						promises.push(installedChunkData[1] = promise);
/******/ 					}
/******/ 				}
/******/ 			}
/******/ 	};
/******/ 	
/******/ 	// no prefetching
/******/ 	
/******/ 	// no preloaded
/******/ 	
/******/ 	// no external install chunk
/******/ 	
/******/ 	// no on chunks loaded
/******/ })();
/******/ 
/************************************************************************/
var __webpack_exports__ = {};

;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
;// CONCATENATED MODULE: external "node:os"
const external_node_os_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");
;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
// EXTERNAL MODULE: ./node_modules/semver/index.js
var semver = __nccwpck_require__(2088);
var semver_default = /*#__PURE__*/__nccwpck_require__.n(semver);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __nccwpck_require__(7598);
;// CONCATENATED MODULE: ./shared/buildx-version.ts
// Reading what `docker buildx version` and `docker buildx inspect` print. Only the parsers live here (semver,
// nothing else), so the CLI shares them without bundling shared/buildx.ts's action-side probe and gates.

/**
 * `github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4` -> 0.29.1; `github.com/docker/buildx v0.13.1 abc` -> 0.13.1.
 * A version we cannot read (or a dev build's 0.0.0) is undefined: callers treat it as current.
 */
function parseBuildxVersion(output) {
    const m = /buildx\S*\s+v?(\S+)/.exec(output.trim());
    const v = semver_default().coerce(m?.[1] ?? output);
    return v && v.version !== '0.0.0' ? v.version : undefined;
}
/**
 * Reads `docker buildx inspect`'s text: the builder's `Name` and `Driver`, then per node its `Name`, `Endpoint` and
 * `BuildKit version` (`Buildkit` before buildx 0.12). Other lines are skipped.
 */
function parseBuilderInspect(stdout) {
    const info = { nodes: [] };
    let inNodes = false;
    for (const line of stdout.split(/\r?\n/)) {
        // Indented lines (labels, GC policy rules, devices) belong to a section we do not read.
        if (line === '' || /^\s/.test(line))
            continue;
        const at = line.indexOf(':');
        if (at < 0)
            continue;
        const key = line.slice(0, at).trim().toLowerCase();
        const value = line.slice(at + 1).trim();
        if (key === 'nodes')
            inNodes = true;
        else if (key === 'name') {
            if (!inNodes)
                info.name = value;
            else
                info.nodes.push({ name: value });
        }
        else if (key === 'driver' && !inNodes)
            info.driver = value;
        else if (key === 'endpoint' && inNodes) {
            const node = info.nodes.at(-1);
            if (node && value)
                node.endpoint = value;
        }
        else if ((key === 'buildkit version' || key === 'buildkit') && inNodes) {
            const node = info.nodes.at(-1);
            if (node && value)
                node.buildkit = value;
        }
    }
    return info;
}
/** The snapshotter DriverStatus names when dockerd uses the containerd image store. */
const CONTAINERD_SNAPSHOTTER = 'io.containerd.snapshotter.v1';
/** `{{.Driver}}`, a tab, then `{{json .DriverStatus}}`. */
const INFO_FORMAT = '{{.Driver}}\t{{json .DriverStatus}}';
/** The image store from `docker info --format INFO_FORMAT`; undefined when the output cannot be read. */
function parseImageStore(stdout) {
    const line = stdout.trim();
    const tab = line.indexOf('\t');
    if (tab < 0)
        return undefined;
    let status;
    try {
        status = JSON.parse(line.slice(tab + 1));
    }
    catch {
        return undefined;
    }
    if (status !== null && !Array.isArray(status))
        return undefined;
    const pairs = (status ?? []);
    const containerd = pairs.some((p) => Array.isArray(p) && p[0] === 'driver-type' && p[1] === CONTAINERD_SNAPSHOTTER);
    return containerd ? 'containerd' : 'classic';
}
/**
 * The buildx plugin's version from `docker info --format '{{json .ClientInfo.Plugins}}'` (docker asks each CLI
 * plugin for its metadata): `{version, raw}` as `docker buildx version` would give, undefined when buildx is not
 * listed or its version cannot be read.
 */
function parsePluginsBuildx(stdout) {
    let plugins;
    try {
        plugins = JSON.parse(stdout.trim());
    }
    catch {
        return undefined;
    }
    if (!Array.isArray(plugins))
        return undefined;
    for (const p of plugins) {
        if (p === null || typeof p !== 'object')
            continue;
        const { Name, Version, Path } = p;
        if (Name !== 'buildx' || typeof Version !== 'string')
            continue;
        const version = parseBuildxVersion(`buildx ${Version}`);
        if (!version)
            return undefined;
        return { version, raw: `buildx ${Version}${typeof Path === 'string' ? ` (${Path})` : ''}` };
    }
    return undefined;
}

;// CONCATENATED MODULE: ./shared/contract/docker-facts.ts
// What build-push and bake already learned from docker before they run the CLI, handed to it in its env so it does
// not ask again: the buildx version (the CLI gates flags on it) and the builder's name, driver and, for the docker
// driver, the daemon's image store (the CLI's builder probe, cli/src/builder-probe.ts, decides `--cache-to` on it).
// Each `docker` call is a Go process or two, 100-300 ms on a busy runner; the CLI asked three. The CLI takes the
// builder's facts only for the builder it was asked to use (`asked`, the action's `builder` input, '' for buildx's
// choice), and anything it cannot read is ignored: it then asks docker itself, as without the action.
const DOCKER_FACTS_ENV = 'DEPOT_DOCKER_FACTS';
function encodeDockerFacts(facts) {
    return JSON.stringify(facts);
}
/** The facts in `env`, checked field by field; undefined when absent or unreadable. */
function readDockerFacts(env) {
    const raw = env[DOCKER_FACTS_ENV];
    if (!raw)
        return undefined;
    let json;
    try {
        json = JSON.parse(raw);
    }
    catch {
        return undefined;
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json))
        return undefined;
    const { buildx, builder } = json;
    const facts = {};
    if (typeof buildx === 'string' && /^\d+\.\d+\.\d+/.test(buildx))
        facts.buildx = buildx;
    if (builder !== null && typeof builder === 'object' && !Array.isArray(builder)) {
        const { asked, name, driver, store } = builder;
        if (typeof asked === 'string' &&
            typeof name === 'string' &&
            name &&
            typeof driver === 'string' &&
            driver) {
            if (store === undefined || store === 'containerd' || store === 'classic') {
                facts.builder = { asked, name, driver, ...(store ? { store } : {}) };
            }
        }
    }
    return facts;
}

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: ./shared/exec.ts
// Running a process, for the actions and the CLI alike: an argv array (never a shell), SIGINT/SIGTERM forwarded to
// every live child, and the exit status (128 + N when the child was killed by signal N). Output either reaches our
// terminal untouched (`output: 'inherit'`, so BuildKit's progress stays a TTY's) or passes through us (`'pipe'`):
// streamed to our stdout/stderr unless `silent`, stdout kept for parsing, stderr's last line kept for a one-line
// failure. A command that is not installed is a CommandNotFound, which each caller turns into its own message.


/** The command is not installed (ENOENT): callers turn it into a message saying how to install it. */
class CommandNotFound extends Error {
    command;
    name = 'CommandNotFound';
    constructor(command) {
        super(`${command}: command not found`);
        this.command = command;
    }
}
const TAIL_BYTES = 64 * 1024;
const FORWARDED = ['SIGINT', 'SIGTERM'];
const live = new Set();
function forward(signal) {
    for (const child of live)
        child.kill(signal);
}
/** Our SIGINT/SIGTERM listeners exist only while a child runs, so with none the default (or the caller's) applies. */
function track(child) {
    if (live.size === 0)
        for (const s of FORWARDED)
            process.on(s, forward);
    live.add(child);
}
function untrack(child) {
    if (!live.delete(child))
        return;
    if (live.size === 0)
        for (const s of FORWARDED)
            process.off(s, forward);
}
/** How many children started by `exec` are still running (a signal now reaches them). */
function liveChildren() {
    return live.size;
}
/** The shell's exit status for a process ended by `signal`: 128 + its number. */
function signalExitStatus(signal) {
    return 128 + (external_node_os_namespaceObject.constants.signals[signal] ?? 0);
}
function exec(command, args, opts = {}) {
    return new Promise((resolve, reject) => {
        const inherit = opts.output === 'inherit';
        const stdio = [
            opts.stdin ?? 'inherit',
            inherit && !opts.captureStdout ? 'inherit' : 'pipe',
            inherit ? 'inherit' : 'pipe',
        ];
        const child = (0,external_node_child_process_namespaceObject.spawn)(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio });
        track(child);
        let stdout = '';
        let stderrTail = '';
        const out = opts.stdout ?? process.stdout;
        const err = opts.stderr ?? process.stderr;
        child.stdout?.setEncoding('utf8').on('data', (chunk) => {
            if (!opts.silent)
                out.write(chunk);
            stdout = opts.captureStdout ? stdout + chunk : (stdout + chunk).slice(-TAIL_BYTES);
        });
        child.stderr?.setEncoding('utf8').on('data', (chunk) => {
            if (!opts.silent)
                err.write(chunk);
            stderrTail = (stderrTail + chunk).slice(-TAIL_BYTES);
        });
        child.on('error', (e) => {
            untrack(child);
            reject(e.code === 'ENOENT' ? new CommandNotFound(command) : e);
        });
        child.on('close', (code, signal) => {
            untrack(child);
            const result = {
                exitCode: code ?? (signal ? signalExitStatus(signal) : 1),
                stdout,
                lastStderrLine: lastLine(stderrTail),
            };
            if (signal)
                result.signal = signal;
            resolve(result);
        });
    });
}
function lastLine(text) {
    const lines = text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '');
    return lines[lines.length - 1] ?? '';
}

;// CONCATENATED MODULE: ./shared/contract/cli.ts
// What the actions and the depot CLI agree on: the exit status the actions' buildx-fallback keys on, and the values
// of the depot-only flags the actions pass (`--build-platform`, `--lint-fail-on`).
/** EX_UNAVAILABLE (sysexits.h): the CLI could not reach the broker or the cache registry before the build started. */
const EXIT_UNAVAILABLE = 69;
/** `--lint-fail-on` / input `lint-fail-on`: the lowest lint level that fails the build. */
const LINT_LEVELS = ['error', 'warn', 'info', 'none'];
/** `--build-platform` / input `build-platform`: where the builder runs (dynamic: per target platform). */
const BUILD_PLATFORMS = ['dynamic', 'linux/amd64', 'linux/arm64'];

;// CONCATENATED MODULE: ./shared/errors.ts
// The two error helpers every part uses: the actions, the CLI and the broker.
/**
 * An error the user can fix: its message is one line that says what was wrong and what to do. It is printed as is
 * (no stack trace): by the action runner as the step's failure, by the CLI before it exits with `exitCode`.
 * Anything else is reported as an unexpected failure.
 */
class UserError extends Error {
    exitCode;
    name = 'UserError';
    constructor(message, 
    /** The CLI's exit status for it. */
    exitCode = 1) {
        super(message);
        this.exitCode = exitCode;
    }
}
/** The message of any thrown value, on one line. */
function errorMessage(err) {
    const text = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
    return (text ?? String(err)).replace(/\s*\n\s*/g, ' ').trim();
}

;// CONCATENATED MODULE: ./cli/src/errors.ts
// The two ways a depot command fails on purpose: a user error (one line, exit 1 unless told otherwise) and
// "unavailable" (exit 69, EX_UNAVAILABLE): the broker or the cache registry could not be reached before the build
// started, the one status the actions' buildx-fallback keys on.




class UnavailableError extends UserError {
    name = 'UnavailableError';
    constructor(message) {
        super(message, EXIT_UNAVAILABLE);
    }
}

;// CONCATENATED MODULE: ./cli/src/log.ts
// depot's own lines go to stderr with a `depot:` prefix, so stdout stays buildx's (e.g. `--call outline` JSON).
// Every line passes through the redactor: a secret registered with `addSecret` never reaches the terminal.
const secrets = new Set();
function addSecret(value) {
    if (value.length >= 4)
        secrets.add(value);
}
function redact(text) {
    let out = text;
    for (const s of secrets)
        out = out.split(s).join('***');
    return out;
}
let debugOn = false;
function setDebug(on) {
    debugOn = on;
}
function isDebug() {
    return debugOn;
}
const log = {
    info(message) {
        process.stderr.write(`depot: ${redact(message)}\n`);
    },
    warn(message) {
        process.stderr.write(`depot: warning: ${redact(message)}\n`);
    },
    error(message) {
        process.stderr.write(`depot: error: ${redact(message)}\n`);
    },
    debug(message) {
        if (debugOn)
            process.stderr.write(`depot: debug: ${redact(message)}\n`);
    },
};
/** A command line as a person would type it, quoted where needed, with secrets redacted. */
function showCommand(cmd, args) {
    const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
    return redact([cmd, ...args].map(quote).join(' '));
}

;// CONCATENATED MODULE: ./cli/src/ci.ts
// Which CI runs this job, and how its OIDC token is had: CircleCI (`circleci run oidc get`), GitLab CI (the job's
// `id_tokens:` entry DEPOT_OIDC_TOKEN) or Buildkite (`buildkite-agent oidc request-token`). Also the job id the
// project token is cached under, and whether the build is untrusted (a pull or merge request from another
// repository), which never exchanges. The CI token is a secret: registered with addSecret the moment it exists.



/** The CI this job runs in, or undefined when none that depot exchanges tokens for. */
function detectCi(env) {
    if (env.CIRCLECI === 'true') {
        const job = { provider: 'circleci', name: 'CircleCI', jobId: env.CIRCLE_WORKFLOW_JOB_ID ?? '' };
        const pr = env.CIRCLE_PR_NUMBER ?? '';
        const headRepo = env.CIRCLE_PR_REPONAME ?? '';
        if (pr !== '' || (headRepo !== '' && headRepo !== (env.CIRCLE_PROJECT_REPONAME ?? ''))) {
            const from = [env.CIRCLE_PR_USERNAME, headRepo].filter(Boolean).join('/');
            job.untrusted = `this CircleCI job builds a pull request from a fork${describe(pr ? `#${pr}` : '', from)}`;
        }
        return job;
    }
    if (env.GITLAB_CI === 'true') {
        const job = { provider: 'gitlab', name: 'GitLab CI', jobId: env.CI_JOB_ID ?? '' };
        const source = env.CI_MERGE_REQUEST_SOURCE_PROJECT_ID ?? '';
        const target = env.CI_MERGE_REQUEST_PROJECT_ID ?? '';
        if (source !== '' && source !== target) {
            job.untrusted = `this GitLab CI job builds a merge request from a fork (project ${source}${env.CI_MERGE_REQUEST_SOURCE_PROJECT_PATH ? `, ${env.CI_MERGE_REQUEST_SOURCE_PROJECT_PATH}` : ''}) into project ${target || '(unknown)'}`;
        }
        return job;
    }
    if (env.BUILDKITE === 'true') {
        const job = { provider: 'buildkite', name: 'Buildkite', jobId: env.BUILDKITE_JOB_ID ?? '' };
        const head = env.BUILDKITE_PULL_REQUEST_REPO ?? '';
        if (head !== '' && sameRepository(head, env.BUILDKITE_REPO ?? '') === false) {
            job.untrusted = `this Buildkite job builds a pull request from another repository (${withoutCredentials(head)})`;
        }
        return job;
    }
    return undefined;
}
function describe(pr, from) {
    const parts = [pr, from].filter(Boolean);
    return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
/** A repository URL as it may be shown: any `user:pass@` of an http(s) URL replaced by `***@`. */
function withoutCredentials(url) {
    return url.replace(/^(\w+:\/\/)[^/@]*@/, '$1***@');
}
/** `git@github.com:acme/web.git`, `https://github.com/acme/web` and `ssh://git@github.com/acme/web.git` are one. */
function sameRepository(a, b) {
    const norm = (u) => u
        .trim()
        .toLowerCase()
        .replace(/^\w+:\/\//, '')
        .replace(/^[^/@]*@/, '')
        .replace(/^([^/:]+):(?!\d+\/)/, '$1/')
        .replace(/\/+$/, '')
        .replace(/\.git$/, '');
    return norm(a) === norm(b);
}
/** The one line that says how a job gets the CI token it lacks. */
function gitlabIdTokensHint(audience) {
    return `add \`id_tokens: DEPOT_OIDC_TOKEN: aud: ${audience}\` to the job`;
}
/** `organization_id,pipeline_id` from DEPOT_BUILDKITE_CLAIMS, checked (claim names only, comma-separated). */
function buildkiteClaims(env) {
    const raw = (env.DEPOT_BUILDKITE_CLAIMS ?? '').trim();
    if (raw === '')
        return undefined;
    const claims = raw.split(',').map((c) => c.trim());
    if (claims.some((c) => !/^[a-z][a-z0-9_]*$/.test(c))) {
        throw new UserError(`DEPOT_BUILDKITE_CLAIMS must be a comma-separated list of claim names (e.g. organization_id,pipeline_id), got "${raw}".`);
    }
    return claims.join(',');
}
/**
 * A fresh OIDC token of `job`'s CI for `audience` (every call: CircleCI's and Buildkite's CLIs mint a new one).
 * A missing tool or a refusing one is a UserError: retrying would not help.
 */
async function ciToken(job, audience, env, exec) {
    if (job.provider === 'gitlab') {
        const token = (env.DEPOT_OIDC_TOKEN ?? '').trim();
        if (token === '') {
            throw new UserError(`DEPOT_BROKER_URL is set but this GitLab CI job has no DEPOT_OIDC_TOKEN: ${gitlabIdTokensHint(audience)}.`);
        }
        addSecret(token);
        return token;
    }
    const [command, args, fix] = job.provider === 'circleci'
        ? [
            'circleci',
            ['run', 'oidc', 'get', '--claims', JSON.stringify({ aud: audience })],
            'run the job on a CircleCI executor, which has the circleci CLI',
        ]
        : [
            'buildkite-agent',
            [
                'oidc',
                'request-token',
                '--audience',
                audience,
                ...((c) => (c ? ['--claim', c] : []))(buildkiteClaims(env)),
            ],
            'run the job on a Buildkite agent, which has buildkite-agent on PATH',
        ];
    const shown = `\`${command} ${args.slice(0, job.provider === 'circleci' ? 3 : 2).join(' ')}\``;
    let res;
    try {
        res = await exec(command, args, { env, captureStdout: true, silent: true, stdin: 'ignore' });
    }
    catch (err) {
        if (err instanceof CommandNotFound) {
            throw new UserError(`DEPOT_BROKER_URL is set but ${command} is not on PATH, so there is no ${job.name} OIDC token: ${fix}, or set DEPOT_TOKEN.`);
        }
        throw err;
    }
    const token = res.stdout.trim();
    if (token !== '')
        addSecret(token);
    if (res.exitCode !== 0) {
        const why = res.lastStderrLine ? `: ${res.lastStderrLine}` : '';
        throw new UserError(`${shown} failed (exit ${res.exitCode}${why}), so there is no ${job.name} OIDC token for the broker: check that the job may request OIDC tokens, or set DEPOT_TOKEN.`);
    }
    if (token === '') {
        throw new UserError(`${shown} printed no token, so there is no ${job.name} OIDC token for the broker.`);
    }
    return token;
}

;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/lib/buffer_utils.js
const buffer_utils_encoder = new TextEncoder(), decoder = new TextDecoder(), strictDecoder = new TextDecoder("utf-8", { fatal: !0 }), UINT32_RANGE = (/* unused pure expression or super */ null && (2 ** 32));
function concat(...buffers) {
  const size = buffers.reduce((acc, { length }) => acc + length, 0), buf = new Uint8Array(size);
  let i = 0;
  for (const buffer of buffers)
    buf.set(buffer, i), i += buffer.length;
  return buf;
}
function writeUInt32BE(buf, value, offset) {
  if (value < 0 || value >= UINT32_RANGE)
    throw new RangeError(`value must be >= 0 and <= ${UINT32_RANGE - 1}. Received ${value}`);
  buf.set([value >>> 24, value >>> 16, value >>> 8, value & 255], offset);
}
function uint64be(value) {
  const high = Math.floor(value / UINT32_RANGE), low = value % UINT32_RANGE, buf = new Uint8Array(8);
  return writeUInt32BE(buf, high, 0), writeUInt32BE(buf, low, 4), buf;
}
function uint32be(value) {
  const buf = new Uint8Array(4);
  return writeUInt32BE(buf, value), buf;
}
const NON_ASCII = /[^\x00-\x7f]/;
function buffer_utils_encode(string) {
  if (typeof string == "string" && string.length >= 128) {
    if (NON_ASCII.test(string))
      throw new TypeError("non-ASCII string encountered in encode()");
    return buffer_utils_encoder.encode(string);
  }
  const bytes = new Uint8Array(string.length);
  for (let i = 0; i < string.length; i++) {
    const code = string.charCodeAt(i);
    if (code > 127)
      throw new TypeError("non-ASCII string encountered in encode()");
    bytes[i] = code;
  }
  return bytes;
}
function buffer_utils_encodeBase64(input, url = !1) {
  if (Uint8Array.prototype.toBase64)
    return input.toBase64({ alphabet: url ? "base64url" : "base64", omitPadding: url });
  const CHUNK_SIZE = 32768, arr = [];
  for (let i = 0; i < input.length; i += CHUNK_SIZE)
    arr.push(String.fromCharCode.apply(null, input.subarray(i, i + CHUNK_SIZE)));
  const encoded = btoa(arr.join(""));
  return url ? encoded.replace(/=/g, "").replace(/\+/g, "-").replace(/\//g, "_") : encoded;
}
function decodeBase64(encoded, url = !1) {
  if (Uint8Array.fromBase64)
    return Uint8Array.fromBase64(encoded, { alphabet: url ? "base64url" : "base64" });
  if (url) {
    if (encoded.includes("+") || encoded.includes("/"))
      throw new TypeError("Invalid base64url");
    encoded = encoded.replace(/-/g, "+").replace(/_/g, "/");
  }
  const binary = atob(encoded), bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++)
    bytes[i] = binary.charCodeAt(i);
  return bytes;
}
async function digest(algorithm, data) {
  const subtleDigest = `SHA-${algorithm.slice(-3)}`;
  return new Uint8Array(await crypto.subtle.digest(subtleDigest, data));
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/base64url.js

const invalid = "The input to be decoded is not correctly encoded.";
function base64url_decode(input) {
  try {
    return decodeBase64(typeof input == "string" ? input : decoder.decode(input), !0);
  } catch (cause) {
    throw new TypeError(invalid, { cause });
  }
}
function base64url_encode(input) {
  return encodeBase64(typeof input == "string" ? encoder.encode(input) : input, !0);
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/lib/validate.js



function assertUint8Array(input, label) {
  if (!(input instanceof Uint8Array))
    throw new TypeError(`${label} must be an instance of Uint8Array`);
}
function isObject(input) {
  if (typeof input != "object" || input === null || Object.prototype.toString.call(input) !== "[object Object]")
    return !1;
  const prototype = Object.getPrototypeOf(input);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}
function isJwkSet(input) {
  return isObject(input) && Array.isArray(input.keys) && Array.from(input.keys).every(isObject);
}
function isDisjoint(...headers) {
  const parameters = /* @__PURE__ */ new Set();
  for (const header of headers)
    if (header)
      for (const parameter of Object.keys(header)) {
        if (parameters.has(parameter))
          return !1;
        parameters.add(parameter);
      }
  return !0;
}
function assertNotSet(value, name) {
  if (value !== void 0)
    throw new TypeError(`${name} can only be called once`);
}
function decodeBase64url(value, label, ErrorClass) {
  try {
    return decode(value);
  } catch (cause) {
    throw new ErrorClass(`Failed to base64url decode the ${label}`, { cause });
  }
}
function encodeAsciiMember(value, label, ErrorClass) {
  try {
    return encode(value);
  } catch (cause) {
    throw new ErrorClass(`The ${label} is not a valid base64url string`, { cause });
  }
}
function parseJoseHeader(encodedProtectedHeader, ErrorClass, message) {
  let parsed;
  try {
    parsed = JSON.parse(strictDecoder.decode(base64url_decode(encodedProtectedHeader)));
  } catch (cause) {
    throw new ErrorClass(message, { cause });
  }
  if (!isObject(parsed))
    throw new ErrorClass(message);
  return parsed;
}
const JWS_RECOGNIZED = { __proto__: null, b64: !0 }, JWE_RECOGNIZED = { __proto__: null };
function validateAlgorithms(option, algorithms) {
  if (algorithms !== void 0 && (!Array.isArray(algorithms) || algorithms.some((s) => typeof s != "string")))
    throw new TypeError(`"${option}" option must be an array of strings`);
  return algorithms === void 0 ? void 0 : new Set(algorithms);
}
function validateCritDuplicates(Err, protectedHeader) {
  const { crit } = protectedHeader ?? {};
  if (Array.isArray(crit) && new Set(crit).size !== crit.length)
    throw new Err('"crit" (Critical) Header Parameter MUST NOT contain duplicate values');
}
function validateCrit(Err, recognizedDefault, recognizedOption, protectedHeader, joseHeader) {
  if (joseHeader.crit !== void 0 && protectedHeader?.crit === void 0)
    throw new Err('"crit" (Critical) Header Parameter MUST be integrity protected');
  if (!protectedHeader || protectedHeader.crit === void 0)
    return [];
  if (!Array.isArray(protectedHeader.crit) || protectedHeader.crit.length === 0 || protectedHeader.crit.some((input) => typeof input != "string" || input.length === 0))
    throw new Err('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present');
  const recognized = recognizedOption === void 0 ? recognizedDefault : { __proto__: null, ...recognizedOption, ...recognizedDefault };
  for (const parameter of protectedHeader.crit) {
    if (!(parameter in recognized))
      throw new JOSENotSupported(`Extension Header Parameter "${parameter}" is not recognized`);
    if (!Object.hasOwn(joseHeader, parameter) || joseHeader[parameter] === void 0)
      throw new Err(`Extension Header Parameter "${parameter}" is missing`);
    if (recognized[parameter] && (!Object.hasOwn(protectedHeader, parameter) || protectedHeader[parameter] === void 0))
      throw new Err(`Extension Header Parameter "${parameter}" MUST be integrity protected`);
  }
  return protectedHeader.crit;
}
function validateB64(protectedHeader, extensions) {
  if (extensions.includes("b64")) {
    const b64 = protectedHeader.b64;
    if (typeof b64 != "boolean")
      throw new JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
    return b64;
  }
  return !0;
}
function serializeJoseHeader(Err, header) {
  let serialized, parsed;
  try {
    serialized = JSON.stringify(header), parsed = JSON.parse(serialized);
  } catch (cause) {
    throw new Err("JOSE Header is not valid JSON", { cause });
  }
  if (!isObject(parsed))
    throw new Err("JOSE Header is not a JSON object");
  return [parsed, serialized];
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/decode_protected_header.js

function decodeProtectedHeader(token) {
  let encodedProtectedHeader;
  if (typeof token == "string") {
    const parts = token.split(".");
    (parts.length === 3 || parts.length === 5) && ([encodedProtectedHeader] = parts);
  } else if (typeof token == "object" && token)
    if ("protected" in token)
      encodedProtectedHeader = token.protected;
    else
      throw new TypeError("Token does not contain a Protected Header");
  const invalid = "Invalid Token or Protected Header formatting";
  if (typeof encodedProtectedHeader != "string" || !encodedProtectedHeader)
    throw new TypeError(invalid);
  return parseJoseHeader(encodedProtectedHeader, TypeError, invalid);
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/errors.js
class JOSEError extends Error {
  static code = "ERR_JOSE_GENERIC";
  code = "ERR_JOSE_GENERIC";
  constructor(message, options) {
    super(message, options), this.name = this.constructor.name, Error.captureStackTrace?.(this, this.constructor);
  }
}
class JWTClaimValidationFailed extends JOSEError {
  static code = "ERR_JWT_CLAIM_VALIDATION_FAILED";
  code = "ERR_JWT_CLAIM_VALIDATION_FAILED";
  claim;
  reason;
  payload;
  constructor(message, payload, claim = "unspecified", reason = "unspecified") {
    super(message, { cause: { claim, reason, payload } }), this.claim = claim, this.reason = reason, this.payload = payload;
  }
}
class JWTExpired extends JOSEError {
  static code = "ERR_JWT_EXPIRED";
  code = "ERR_JWT_EXPIRED";
  claim;
  reason;
  payload;
  constructor(message, payload, claim = "unspecified", reason = "unspecified") {
    super(message, { cause: { claim, reason, payload } }), this.claim = claim, this.reason = reason, this.payload = payload;
  }
}
class JOSEAlgNotAllowed extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JOSE_ALG_NOT_ALLOWED"));
  code = "ERR_JOSE_ALG_NOT_ALLOWED";
}
class errors_JOSENotSupported extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JOSE_NOT_SUPPORTED"));
  code = "ERR_JOSE_NOT_SUPPORTED";
}
class JWEDecryptionFailed extends JOSEError {
  static code = "ERR_JWE_DECRYPTION_FAILED";
  code = "ERR_JWE_DECRYPTION_FAILED";
  constructor(message = "decryption operation failed", options) {
    super(message, options);
  }
}
class JWEInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWE_INVALID"));
  code = "ERR_JWE_INVALID";
}
class errors_JWSInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWS_INVALID"));
  code = "ERR_JWS_INVALID";
}
class JWTInvalid extends JOSEError {
  static code = "ERR_JWT_INVALID";
  code = "ERR_JWT_INVALID";
}
class JWKInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWK_INVALID"));
  code = "ERR_JWK_INVALID";
}
class JWKSInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWKS_INVALID"));
  code = "ERR_JWKS_INVALID";
}
class JWKSNoMatchingKey extends JOSEError {
  static code = "ERR_JWKS_NO_MATCHING_KEY";
  code = "ERR_JWKS_NO_MATCHING_KEY";
  constructor(message = "no applicable key found in the JSON Web Key Set", options) {
    super(message, options);
  }
}
class JWKSMultipleMatchingKeys extends JOSEError {
  [Symbol.asyncIterator] = async function* () {
  };
  static code = "ERR_JWKS_MULTIPLE_MATCHING_KEYS";
  code = "ERR_JWKS_MULTIPLE_MATCHING_KEYS";
  constructor(message = "multiple matching keys found in the JSON Web Key Set", options) {
    super(message, options);
  }
}
class JWKSTimeout extends JOSEError {
  static code = "ERR_JWKS_TIMEOUT";
  code = "ERR_JWKS_TIMEOUT";
  constructor(message = "request timed out", options) {
    super(message, options);
  }
}
class JWSSignatureVerificationFailed extends JOSEError {
  static code = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
  code = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
  constructor(message = "signature verification failed", options) {
    super(message, options);
  }
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/decode_jwt.js




function decodeJwt(jwt) {
  if (typeof jwt != "string")
    throw new JWTInvalid("JWTs must use Compact JWS serialization, JWT must be a string");
  const { 1: encodedPayload, length } = jwt.split(".");
  if (length === 5)
    throw new JWTInvalid("Only JWTs using Compact JWS serialization can be decoded");
  if (length !== 3)
    throw new JWTInvalid("Invalid JWT");
  if (!encodedPayload)
    throw new JWTInvalid("JWTs must contain a payload");
  let claimsSetBytes;
  try {
    claimsSetBytes = base64url_decode(encodedPayload);
  } catch (cause) {
    throw new JWTInvalid("Failed to base64url decode the payload", { cause });
  }
  let claimsSet;
  try {
    claimsSet = JSON.parse(strictDecoder.decode(claimsSetBytes));
  } catch (cause) {
    throw new JWTInvalid("Failed to parse the decoded payload as JSON", { cause });
  }
  if (!isObject(claimsSet))
    throw new JWTInvalid("Invalid JWT Claims Set");
  return claimsSet;
}


;// CONCATENATED MODULE: ./shared/contract/project.ts
// A project: the cache namespace a token is for. Its id is also a path segment of registry repositories
// (`cache/<id>`, `builds/<id>`), hence the registry's own component grammar, lower case only.
const PROJECT_ID = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
const PROJECT_ID_HINT = 'lowercase letters and digits, separated by single . _ or -';
/** The registry repository that holds a project's saved builds (`depot build --save`). */
function savedBuildsRepository(project) {
    return `builds/${project}`;
}

;// CONCATENATED MODULE: ./shared/contract/project-token.ts

/** The header `typ` that tells a project token from a CI's OIDC token, both ways. */
const PROJECT_TOKEN_TYP = 'depot-project+jwt';
const SCOPES = ['build', 'cache:read', 'cache:write'];
/** `aud` of project tokens minted by the broker at `brokerUrl` (its public URL). */
function projectAudience(brokerUrl) {
    return `${brokerUrl}/project`;
}
function projectSubject(project) {
    return `project:${project}`;
}
/** A claim or header field that breaks the contract; `field` names it, the message says what was expected. */
class ProjectTokenError extends Error {
    field;
    constructor(field, message) {
        super(message);
        this.field = field;
        this.name = 'ProjectTokenError';
    }
}
/** Checks the header and claims of a (decoded) project token and returns what its readers use. */
function project_token_readProjectToken(header, claims) {
    if (header.typ !== PROJECT_TOKEN_TYP) {
        throw new ProjectTokenError('typ', `its header typ is ${JSON.stringify(header.typ ?? '')}, expected "${PROJECT_TOKEN_TYP}"`);
    }
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) {
        throw new ProjectTokenError('exp', 'it has no numeric exp claim');
    }
    const project = claims.project;
    if (typeof project !== 'string' || !PROJECT_ID.test(project)) {
        throw new ProjectTokenError('project', 'its project claim is missing or not a project id');
    }
    if (typeof claims.isolated !== 'boolean') {
        throw new ProjectTokenError('isolated', 'its isolated claim is missing or not true/false');
    }
    if (typeof claims.scope !== 'string')
        throw new ProjectTokenError('scope', 'it has no scope claim');
    const scopes = new Set();
    for (const s of claims.scope.split(/\s+/)) {
        // A scope this reader does not know (a newer broker's) grants nothing here; it is not an error.
        if (SCOPES.includes(s))
            scopes.add(s);
    }
    const token = {
        project,
        isolated: claims.isolated,
        scopes,
        expiresAt: new Date(claims.exp * 1000),
    };
    if (typeof claims.iss === 'string')
        token.issuer = claims.iss;
    if (typeof claims.sub === 'string')
        token.subject = claims.sub;
    if (typeof claims.rule === 'string')
        token.rule = claims.rule;
    if (typeof claims.jti === 'string')
        token.id = claims.jti;
    if (typeof claims.iat === 'number' && Number.isFinite(claims.iat))
        token.issuedAt = new Date(claims.iat * 1000);
    // An isolated token opens no cache, whatever else it says: the registry refuses it every repository too.
    if (claims.cache !== undefined && !token.isolated) {
        const cache = typeof claims.cache === 'string' ? claims.cache : '';
        const slash = cache.indexOf('/');
        if (slash <= 0 || slash === cache.length - 1) {
            throw new ProjectTokenError('cache', 'its cache claim is not <registry host>/<repository>');
        }
        token.cache = { host: cache.slice(0, slash), repository: cache.slice(slash + 1) };
    }
    return token;
}

;// CONCATENATED MODULE: ./cli/src/token.ts
// The project token the CLI was handed, read without verifying the signature: the cache registry's token service
// and the broker verify it; the CLI only needs to know the project, the scope and where the cache is. It still
// refuses, before anything runs, a token that is not a project token or that has expired. The claims are checked
// by the contract's reader, the same one the broker's registry token service uses.



const WHERE = 'DEPOT_TOKEN (or --token)';
function token_readProjectToken(raw, now = new Date(), 
/** Where the token came from, for messages. */
where = WHERE) {
    const token = raw.trim();
    let header;
    let payload;
    try {
        header = decodeProtectedHeader(token);
        payload = decodeJwt(token);
    }
    catch {
        throw new UserError(`${where} is not a JWT: pass the project token the broker minted (or the setup action exported).`);
    }
    let claims;
    try {
        claims = project_token_readProjectToken(header, payload);
    }
    catch (err) {
        if (!(err instanceof ProjectTokenError))
            throw err;
        throw new UserError(`${where} is not a depot project token (${err.message}): exchange your CI's OIDC token at the broker for a project token.`);
    }
    if (claims.expiresAt.getTime() <= now.getTime()) {
        throw new UserError(`${where} expired at ${claims.expiresAt.toISOString()}: get a fresh project token (project tokens live minutes to an hour).`);
    }
    return { ...claims, raw: token };
}

;// CONCATENATED MODULE: ./cli/src/token-cache.ts
// The project token a CI job got from the broker, kept for the rest of that job: `circleci run oidc get` and
// `buildkite-agent` mint a fresh CI token on every call, so a job that runs depot five times would otherwise make
// five exchanges. The key is the job id, the broker URL and the project (hashed into the file name); a token is
// reused until a minute before it expires. Directory: DEPOT_CACHE_DIR, else $XDG_CACHE_HOME/depot, else
// ~/.cache/depot (0700, files 0600). Expired and corrupt files are deleted; the cache never fails a build.






/** A cached token is used only while it has more than this left. */
const REUSE_MARGIN_MS = 60_000;
const FILE = /^project-token-[0-9a-f]{64}\.json$/;
function tokenCacheDir(env) {
    if (env.DEPOT_CACHE_DIR)
        return { dir: env.DEPOT_CACHE_DIR, ours: false };
    const base = env.XDG_CACHE_HOME || (0,external_node_path_namespaceObject.join)(env.HOME || (0,external_node_os_namespaceObject.homedir)(), '.cache');
    return { dir: (0,external_node_path_namespaceObject.join)(base, 'depot'), ours: true };
}
class TokenCache {
    dir;
    ours;
    now;
    constructor(dir, 
    /** The default location is depot's own folder: its mode is set to 0700 even when it exists. */
    ours, now) {
        this.dir = dir;
        this.ours = ours;
        this.now = now;
    }
    static of(env, now) {
        const { dir, ours } = tokenCacheDir(env);
        return new TokenCache(dir, ours, now);
    }
    fileOf(key) {
        const hash = (0,external_node_crypto_.createHash)('sha256')
            .update(JSON.stringify([key.provider, key.jobId, key.brokerUrl, key.project]))
            .digest('hex');
        return (0,external_node_path_namespaceObject.join)(this.dir, `project-token-${hash}.json`);
    }
    /** The cached token for `key` while it has more than a minute left; expired and corrupt files are deleted. */
    read(key) {
        this.sweep();
        const file = this.fileOf(key);
        const token = this.load(file);
        if (token)
            log.debug(`TokenCache.read: hit ${file}`);
        return token;
    }
    /** Keeps `raw` for `key` (0600, written whole then renamed); a failure is a warning, never an error. */
    write(key, raw) {
        const file = this.fileOf(key);
        const tmp = `${file}.${process.pid}.tmp`;
        try {
            if (!(0,external_node_fs_namespaceObject.existsSync)(this.dir)) {
                (0,external_node_fs_namespaceObject.mkdirSync)(this.dir, { recursive: true, mode: 0o700 });
                (0,external_node_fs_namespaceObject.chmodSync)(this.dir, 0o700);
            }
            else if (this.ours)
                (0,external_node_fs_namespaceObject.chmodSync)(this.dir, 0o700);
            (0,external_node_fs_namespaceObject.writeFileSync)(tmp, `${JSON.stringify({ token: raw })}\n`, { mode: 0o600, flag: 'w' });
            (0,external_node_fs_namespaceObject.chmodSync)(tmp, 0o600);
            (0,external_node_fs_namespaceObject.renameSync)(tmp, file);
        }
        catch (err) {
            remove(tmp);
            const why = err instanceof Error ? err.message : String(err);
            log.warn(`could not keep the project token for the rest of this job in ${this.dir} (${why}).`);
        }
    }
    /** Deletes every expired or corrupt token file of this cache (best effort). */
    sweep() {
        let names;
        try {
            names = (0,external_node_fs_namespaceObject.readdirSync)(this.dir);
        }
        catch {
            return;
        }
        for (const name of names)
            if (FILE.test(name))
                this.load((0,external_node_path_namespaceObject.join)(this.dir, name));
    }
    /** The token in `file` when usable; an unusable file of ours is removed. */
    load(file) {
        let stat;
        try {
            stat = (0,external_node_fs_namespaceObject.lstatSync)(file);
        }
        catch {
            return undefined;
        }
        // Only a regular file of this user is trusted: never one somebody else could have planted.
        if (!stat.isFile() || (process.getuid && stat.uid !== process.getuid()))
            return undefined;
        let token;
        try {
            const json = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8'));
            const raw = json !== null && typeof json === 'object' ? json.token : undefined;
            if (typeof raw === 'string')
                token = token_readProjectToken(raw, new Date(this.now() + REUSE_MARGIN_MS));
        }
        catch {
            token = undefined;
        }
        if (!token) {
            log.debug(`TokenCache: removing ${file} (expired or unreadable)`);
            remove(file);
        }
        return token;
    }
}
function remove(file) {
    try {
        (0,external_node_fs_namespaceObject.rmSync)(file, { force: true });
    }
    catch {
        // best effort: the cache never fails a build
    }
}

;// CONCATENATED MODULE: ./cli/src/builder-probe.ts
// Whether the builder can export the project cache. The `docker` buildx driver exports cache only when the daemon
// uses the containerd image store; on the classic store (GitHub's hosted runners unless a workflow changes it)
// `--cache-to` fails the build with "Cache export is not supported for the docker driver". So before adding
// `--cache-to` we read the builder's driver (`docker buildx inspect`) and, for the docker driver, the daemon's
// image store (`docker info`: the containerd store reports DriverStatus `driver-type io.containerd.snapshotter.v1`).
//
// The answer is kept for the rest of the CI job in one small file, so a job's second `depot build` does not ask
// again: in $RUNNER_TEMP/depot on GitHub Actions (the runner empties RUNNER_TEMP around every job, so the file
// lives exactly one job), else in depot's cache dir (token-cache.ts) under the CI's job id, swept after a day.
// With no CI job (a developer's machine) nothing is kept: the daemon may be reconfigured at any time. The key is
// the job, DOCKER_HOST, the docker context, the builder asked for (--builder, BUILDX_BUILDER), buildx's choice of
// builder (the name in its `current` file, and its instances) and the daemon socket's inode and mtime, so a
// builder created or selected later in the job (docker/setup-buildx-action), or a dockerd restarted onto the
// containerd store, is asked about afresh. A probe that fails decides nothing (the flags stay as they were) and
// is not kept. The warning is printed by every command whose cache export it drops, once per command.










/** Kept answers older than this are deleted (outside RUNNER_TEMP, which the runner empties itself). */
const MAX_AGE_MS = 24 * 60 * 60 * 1000;
const builder_probe_FILE = /^builder-[0-9a-f]{64}\.json$/;
/** The builder's name, driver and first node's endpoint from `docker buildx inspect`. */
function parseInspect(stdout) {
    const { name, driver, nodes } = parseBuilderInspect(stdout);
    if (!name || !driver)
        return undefined;
    const endpoint = nodes[0]?.endpoint;
    return { name, driver, ...(endpoint ? { endpoint } : {}) };
}
/** False only for the docker driver on the classic image store: it cannot export cache. */
function exportsCache(facts) {
    return !(facts?.driver === 'docker' && facts.store === 'classic');
}
/** The one warning for a build whose cache export is dropped: what happened and the two fixes. */
function classicStoreWarning(facts) {
    return (`the builder "${facts.name}" uses the docker driver on Docker's classic image store, which cannot export cache: ` +
        'this build reads the project cache but does not write it. To write it, add docker/setup-buildx-action ' +
        'before this step, or turn on the containerd image store (/etc/docker/daemon.json: ' +
        '{"features":{"containerd-snapshotter":true}}, then restart dockerd).');
}
const defaultDeps = { exec: exec, now: Date.now };
/** Where answers are kept for this job, and the job's id; undefined outside a CI job. */
function probeCacheDir(env) {
    if (env.GITHUB_ACTIONS === 'true' && env.RUNNER_TEMP) {
        const job = [env.GITHUB_RUN_ID, env.GITHUB_RUN_ATTEMPT, env.GITHUB_JOB].map((p) => p ?? '').join('/');
        return { dir: (0,external_node_path_namespaceObject.join)(env.RUNNER_TEMP, 'depot'), job: `github/${job}` };
    }
    const ci = detectCi(env);
    if (!ci?.jobId)
        return undefined;
    return { dir: tokenCacheDir(env).dir, job: `${ci.provider}/${ci.jobId}` };
}
/**
 * The builder `docker buildx use` selected, from buildx's `current` file: its Name and Global only, since buildx
 * rewrites the file's Key (the endpoint) on every command, also for other daemons.
 */
function selected(current) {
    try {
        const json = JSON.parse(current || '{}');
        if (json === null || typeof json !== 'object')
            return '';
        const { Name, Global } = json;
        return JSON.stringify([Name ?? '', Global ?? false]);
    }
    catch {
        return current;
    }
}
/** What identifies the daemon and builder a build will use, without asking docker. */
function probeKey(env, job, builder) {
    const configDir = env.DOCKER_CONFIG || (0,external_node_path_namespaceObject.join)(env.HOME ?? '', '.docker');
    const read = (file) => {
        try {
            return (0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8');
        }
        catch {
            return '';
        }
    };
    let context = env.DOCKER_CONTEXT ?? '';
    if (!context) {
        try {
            const json = JSON.parse(read((0,external_node_path_namespaceObject.join)(configDir, 'config.json')) || '{}');
            const current = json !== null && typeof json === 'object' ? json.currentContext : '';
            context = typeof current === 'string' ? current : '';
        }
        catch {
            context = '';
        }
    }
    const host = env.DOCKER_HOST ?? '';
    const socket = host.startsWith('unix://')
        ? host.slice('unix://'.length)
        : !host && (!context || context === 'default')
            ? '/var/run/docker.sock'
            : '';
    let daemon = '';
    if (socket) {
        try {
            const st = (0,external_node_fs_namespaceObject.statSync)(socket);
            daemon = `${st.ino}:${st.mtimeMs}`;
        }
        catch {
            daemon = 'absent';
        }
    }
    const instancesDir = (0,external_node_path_namespaceObject.join)(configDir, 'buildx', 'instances');
    let instances = [];
    try {
        instances = (0,external_node_fs_namespaceObject.readdirSync)(instancesDir)
            .sort()
            .map((n) => {
            try {
                return `${n}:${(0,external_node_fs_namespaceObject.statSync)((0,external_node_path_namespaceObject.join)(instancesDir, n)).mtimeMs}`;
            }
            catch {
                return n;
            }
        });
    }
    catch {
        instances = [];
    }
    return (0,external_node_crypto_.createHash)('sha256')
        .update(JSON.stringify([
        job,
        host,
        context,
        builder ?? env.BUILDX_BUILDER ?? '',
        selected(read((0,external_node_path_namespaceObject.join)(configDir, 'buildx', 'current'))),
        instances,
        daemon,
    ]))
        .digest('hex');
}
/**
 * The builder's facts the action handed over (shared/contract/docker-facts.ts), when they are about the builder this
 * build uses (`--builder`, else buildx's choice, which BUILDX_BUILDER sets for both) and complete: a docker driver's
 * facts need its image store.
 */
function handedFacts(env, builder) {
    const b = readDockerFacts(env)?.builder;
    if (!b || b.asked !== (builder ?? ''))
        return undefined;
    if (b.driver === 'docker' && !b.store)
        return undefined;
    return { name: b.name, driver: b.driver, ...(b.store ? { store: b.store } : {}) };
}
/** Reads (and keeps, for the job) what the builder of this build is. */
class BuilderProbe {
    env;
    deps;
    constructor(env, deps = {}) {
        this.env = env;
        this.deps = { ...defaultDeps, ...deps };
    }
    /** The builder's facts: from this job's kept answer, else asked of docker; undefined when docker cannot tell. */
    async facts(builder) {
        const handed = handedFacts(this.env, builder);
        if (handed) {
            log.debug(`BuilderProbe.facts: from the action (${DOCKER_FACTS_ENV}): ${JSON.stringify(handed)}`);
            return handed;
        }
        const where = probeCacheDir(this.env);
        const file = where
            ? (0,external_node_path_namespaceObject.join)(where.dir, `builder-${probeKey(this.env, where.job, builder)}.json`)
            : undefined;
        if (where && file) {
            this.sweep(where.dir);
            const kept = this.load(file);
            if (kept) {
                log.debug(`BuilderProbe.facts: kept for this job in ${file}: ${JSON.stringify(kept)}`);
                return kept;
            }
        }
        const facts = await this.ask(builder);
        if (facts && where && file)
            this.keep(where.dir, file, facts);
        return facts;
    }
    async run(args) {
        log.debug(`running ${showCommand('docker', args)}`);
        try {
            const res = await this.deps.exec('docker', args, {
                env: this.env,
                output: 'pipe',
                stdin: 'ignore',
                captureStdout: true,
                silent: true,
            });
            if (res.exitCode !== 0) {
                log.debug(`BuilderProbe: docker ${args[0]} ${args[1] ?? ''} exited ${res.exitCode}: ${res.lastStderrLine}`);
                return undefined;
            }
            return res;
        }
        catch (err) {
            if (!(err instanceof CommandNotFound))
                throw err;
            return undefined;
        }
    }
    async ask(builder) {
        const inspected = await this.run(['buildx', 'inspect', ...(builder ? ['--builder', builder] : [])]);
        const parsed = inspected ? parseInspect(inspected.stdout) : undefined;
        if (!parsed)
            return undefined;
        const facts = { name: parsed.name, driver: parsed.driver };
        if (parsed.driver !== 'docker')
            return facts;
        // The docker driver's node is a docker context: "default" (DOCKER_HOST, else the current context) or a name.
        const endpoint = parsed.endpoint;
        const context = endpoint && endpoint !== 'default' && !endpoint.includes('://') ? ['--context', endpoint] : [];
        const info = await this.run([...context, 'info', '--format', INFO_FORMAT]);
        const store = info ? parseImageStore(info.stdout) : undefined;
        if (!store)
            return undefined;
        return { ...facts, store };
    }
    /** A kept answer when the file is a regular file of this user holding one; otherwise nothing. */
    load(file) {
        try {
            const st = (0,external_node_fs_namespaceObject.lstatSync)(file);
            if (!st.isFile() || (process.getuid && st.uid !== process.getuid()))
                return undefined;
            const json = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8'));
            if (json === null || typeof json !== 'object')
                return undefined;
            const { name, driver, store } = json;
            if (typeof name !== 'string' || typeof driver !== 'string')
                return undefined;
            if (store !== undefined && store !== 'containerd' && store !== 'classic')
                return undefined;
            return { name, driver, ...(store ? { store } : {}) };
        }
        catch {
            return undefined;
        }
    }
    /** Written whole then renamed, 0600; a failure is a debug line: the next build asks again. */
    keep(dir, file, facts) {
        const tmp = `${file}.${process.pid}.tmp`;
        try {
            if (!(0,external_node_fs_namespaceObject.existsSync)(dir))
                (0,external_node_fs_namespaceObject.mkdirSync)(dir, { recursive: true, mode: 0o700 });
            (0,external_node_fs_namespaceObject.writeFileSync)(tmp, `${JSON.stringify({ ...facts, at: this.deps.now() })}\n`, { mode: 0o600 });
            (0,external_node_fs_namespaceObject.chmodSync)(tmp, 0o600);
            (0,external_node_fs_namespaceObject.renameSync)(tmp, file);
        }
        catch (err) {
            (0,external_node_fs_namespaceObject.rmSync)(tmp, { force: true });
            log.debug(`BuilderProbe: could not keep the builder's facts in ${dir}: ${String(err)}`);
        }
    }
    /** Deletes kept answers older than a day (best effort). */
    sweep(dir) {
        let names;
        try {
            names = (0,external_node_fs_namespaceObject.readdirSync)(dir).filter((n) => builder_probe_FILE.test(n));
        }
        catch {
            return;
        }
        for (const name of names) {
            try {
                const st = (0,external_node_fs_namespaceObject.lstatSync)((0,external_node_path_namespaceObject.join)(dir, name));
                if (st.isFile() && this.deps.now() - st.mtimeMs > MAX_AGE_MS)
                    (0,external_node_fs_namespaceObject.rmSync)((0,external_node_path_namespaceObject.join)(dir, name), { force: true });
            }
            catch {
                // best effort: keeping answers never fails a build
            }
        }
    }
}
/**
 * Whether this build may add `--cache-to` for the project cache: asks (once per job) about the builder `builder`
 * (or buildx's current one) and, when it is the docker driver on the classic image store, warns once and says no.
 */
async function cacheExportAllowed(env, builder, deps = {}) {
    const facts = await new BuilderProbe(env, deps).facts(builder);
    if (exportsCache(facts))
        return true;
    log.warn(classicStoreWarning(facts));
    return false;
}

// EXTERNAL MODULE: external "node:perf_hooks"
var external_node_perf_hooks_ = __nccwpck_require__(643);
;// CONCATENATED MODULE: ./shared/trace.ts
// Timing spans for `npm run bench`: with DEPOT_TRACE set to a file, the actions and the CLI append one JSON line per
// span, {proc, pid, name, start, end} in ms since the epoch, so the bench can say where a run's time went. Off (the
// variable unset, as in every real job) each call costs one property read. A span never changes what it wraps: a
// write that fails is ignored, and a span's own throw passes through after it is recorded.


const TRACE_ENV = 'DEPOT_TRACE';
let proc = 'node';
/** Names the process in its spans (set once, where the process knows what it is). */
function traceProc(name) {
    proc = name;
}
function traceOn(env = process.env) {
    return !!env[TRACE_ENV];
}
/** Now, in ms since the epoch, to the microsecond. */
function traceNow() {
    return external_node_perf_hooks_.performance.timeOrigin + external_node_perf_hooks_.performance.now();
}
/** Records a span that ran from `start` to `end` (default now). */
function traceRecord(name, start, end = traceNow()) {
    const file = process.env[TRACE_ENV];
    if (!file)
        return;
    const span = { proc, pid: process.pid, name, start, end };
    try {
        (0,external_node_fs_namespaceObject.appendFileSync)(file, `${JSON.stringify(span)}\n`);
    }
    catch {
        // a trace never fails the step
    }
}
/** Records how long Node took from the process's start to this call (Node's own start plus loading the bundle). */
function traceStartup() {
    if (process.env[TRACE_ENV])
        traceRecord('node start + bundle load', external_node_perf_hooks_.performance.timeOrigin);
}
/** Runs `fn` and records its span, whether it resolves or throws. */
async function traced(name, fn) {
    if (!process.env[TRACE_ENV])
        return fn();
    const start = traceNow();
    try {
        return await fn();
    }
    finally {
        traceRecord(name, start);
    }
}
/** The spans of a trace file (lines that are not spans are skipped). */
function readTrace(text) {
    const spans = [];
    for (const line of text.split('\n')) {
        if (!line.trim())
            continue;
        try {
            const s = JSON.parse(line);
            if (typeof s.name === 'string' && typeof s.start === 'number' && typeof s.end === 'number')
                spans.push(s);
        }
        catch {
            continue;
        }
    }
    return spans;
}

;// CONCATENATED MODULE: ./shared/cache-probe.ts
// The cache registry probe, for the CLI (cli/src/cache.ts turns its outcome into exit 69 or a user error before any
// build starts) and for build-push and bake, which probe with the token they resolved and, when the registry and
// its token service (the broker) answered, tell the CLI so (CACHE_PROBED_ENV: the SHA-256 of that token, never the
// token): the CLI then skips its own probe, whose first request alone costs it about 40 ms of loading Node's HTTP
// stack, which the action has loaded already. Anything but `ok` is not handed over; the CLI probes and decides.


const CACHE_PROBED_ENV = 'DEPOT_CACHE_PROBED';
function isLoopback(host) {
    const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return name === 'localhost' || name === '::1' || /^127\./.test(name);
}
function registryBase(host) {
    return `${isLoopback(host) ? 'http' : 'https'}://${host}`;
}
async function tryTwice(url, init, fetchImpl) {
    let last = new Error('no attempt');
    for (let attempt = 1; attempt <= 2; attempt++) {
        try {
            return await fetchImpl(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(5000) });
        }
        catch (err) {
            const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
            last = new Error(cause ?? (err instanceof Error ? err.message : String(err)));
        }
    }
    return last;
}
/**
 * GET /v2/ on the cache registry (2 tries); when it asks for a bearer token, ask its token service (the broker)
 * for one with the project token.
 */
async function probeRegistry(t, fetchImpl = (url, init) => fetch(url, init), trace = (_n, fn) => fn()) {
    const res = await trace('GET /v2/', () => tryTwice(`${registryBase(t.host)}/v2/`, {}, fetchImpl));
    if (res instanceof Error)
        return { kind: 'unreachable', message: res.message };
    await res.body?.cancel();
    const challenge = res.headers.get('www-authenticate') ?? '';
    if (res.status !== 401 || !/^bearer\s/i.test(challenge))
        return { kind: 'ok' };
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]?.toLowerCase() ?? '', m[2] ?? '']));
    const realm = params.realm;
    if (!realm)
        return { kind: 'ok' };
    const url = new URL(realm);
    if (params.service)
        url.searchParams.set('service', params.service);
    if (t.read)
        url.searchParams.set('scope', `repository:${t.repository}:pull`);
    const auth = `Basic ${Buffer.from(`depot:${t.raw}`).toString('base64')}`;
    const answer = await trace('registry token', () => tryTwice(url.toString(), { headers: { authorization: auth } }, fetchImpl));
    if (answer instanceof Error) {
        return { kind: 'token-service-unreachable', origin: url.origin, message: answer.message };
    }
    await answer.body?.cancel();
    if (answer.status >= 500 || answer.status === 429) {
        return { kind: 'token-service-failed', origin: url.origin, status: answer.status };
    }
    if (answer.status === 401 || answer.status === 403) {
        return { kind: 'refused', origin: url.origin, status: answer.status };
    }
    return { kind: 'ok' };
}
/** What CACHE_PROBED_ENV holds for `raw`: its SHA-256, hex. */
function probedMark(raw) {
    return (0,external_node_crypto_.createHash)('sha256').update(raw.trim()).digest('hex');
}
/** The cache a raw project token names (its claims read unverified, as the CLI reads them); undefined for none. */
function tokenCache(raw) {
    const [header = '', payload = ''] = raw.trim().split('.');
    try {
        const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
        const token = readProjectToken(decode(header), decode(payload));
        if (!token.cache || token.isolated || token.expiresAt.getTime() <= Date.now())
            return undefined;
        return { ...token.cache, read: token.scopes.has('cache:read'), raw: raw.trim() };
    }
    catch {
        return undefined;
    }
}
/**
 * The action's probe for the CLI: CACHE_PROBED_ENV for the CLI's env when the registry and its token service
 * answered for this token, else nothing (the CLI probes and decides itself). Never throws.
 */
async function probedEnv(raw, fetchImpl) {
    const target = tokenCache(raw);
    if (!target)
        return {};
    try {
        const outcome = await probeRegistry(target, fetchImpl);
        return outcome.kind === 'ok' ? { [CACHE_PROBED_ENV]: probedMark(raw) } : {};
    }
    catch {
        return {};
    }
}

;// CONCATENATED MODULE: ./cli/src/cache.ts
// The project cache for one build: which registry flags the token's scope allows, its key (--cache-key, else the
// target), and the reachability probe that decides exit 69 before any build starts.



/** The longest registry tag, and so the longest cache key. */
const MAX_TAG = 128;
const UNSAFE = /[^A-Za-z0-9_.-]/g;
/** `name` as a registry tag: other characters become `-`, no leading `.` or `-`; '' when nothing is left. */
function tagSafe(name) {
    return name
        .replace(UNSAFE, '-')
        .replace(/^[.-]+/, '')
        .slice(0, MAX_TAG);
}
/**
 * The tag-safe project cache key of one build or bake target: `key` (--cache-key) when given, else the target,
 * else `default`. With `perTarget` (a bake of several targets) the key is a prefix, `<key>-<target>`.
 */
function cacheKey(target, key, perTarget = false) {
    if (!key)
        return tagSafe(target || 'default') || 'default';
    const base = tagSafe(key) || 'default';
    if (!perTarget || !target)
        return base;
    // The target keeps up to half the tag, so a long key never makes two targets share one cache.
    const suffix = `-${target.replace(UNSAFE, '-')}`.slice(0, MAX_TAG / 2);
    return `${base.slice(0, MAX_TAG - suffix.length)}${suffix}`;
}
/** The project cache flags of one build; `canExport` false (the builder cannot export cache) leaves out cacheTo. */
function cacheFlags(token, key, canExport = true) {
    if (!token || token.isolated || !token.cache)
        return {};
    const ref = `${token.cache.host}/${token.cache.repository}:${key}`;
    const out = {};
    if (token.scopes.has('cache:read'))
        out.cacheFrom = `type=registry,ref=${ref}`;
    if (canExport && token.scopes.has('cache:write'))
        out.cacheTo = `type=registry,ref=${ref},mode=max,ignore-error=true`;
    return out;
}
/** The token would have this build write the project cache (so the builder's ability to export matters). */
function writesCache(token) {
    return !!token?.cache && !token.isolated && token.scopes.has('cache:write');
}
/** One line saying what the token gives this build, for the log. */
function describeCache(token) {
    if (!token)
        return 'no project token: building locally with no project cache (set DEPOT_TOKEN, or DEPOT_BROKER_URL in a CircleCI, GitLab CI or Buildkite job, or use the setup action).';
    if (token.isolated) {
        return `this build is isolated: the project token for "${token.project}" is isolated (an untrusted source such as a fork pull request, or a rule with isolated: true), so no project cache is read or written and nothing can be saved.`;
    }
    if (!token.cache)
        return `the project token for "${token.project}" names no cache registry: building with no project cache.`;
    const modes = [token.scopes.has('cache:read') ? 'read' : '', token.scopes.has('cache:write') ? 'write' : '']
        .filter(Boolean)
        .join(' and ');
    return modes
        ? `project "${token.project}": cache ${modes} at ${token.cache.host}/${token.cache.repository}`
        : `project "${token.project}": the token allows no cache access (scope "${[...token.scopes].join(' ')}").`;
}

/**
 * GET /v2/ on the cache registry (2 tries); when it asks for a bearer token, ask its token service (the broker)
 * for one with this project token (shared/cache-probe.ts). Unreachable -> exit 69; a refused token -> a user error.
 */
async function probeCache(token, fetchImpl = fetch) {
    if (!token.cache)
        return;
    const { host, repository } = token.cache;
    const outcome = await probeRegistry({ host, repository, read: token.scopes.has('cache:read'), raw: token.raw }, fetchImpl, traced);
    switch (outcome.kind) {
        case 'ok':
            return;
        case 'unreachable':
            throw new UnavailableError(`The cache registry ${host} cannot be reached (${outcome.message}): no build was started.`);
        case 'token-service-unreachable':
            throw new UnavailableError(`The cache registry's token service ${outcome.origin} (the broker) cannot be reached (${outcome.message}): no build was started.`);
        case 'token-service-failed':
            throw new UnavailableError(`The broker's token service at ${outcome.origin} answered HTTP ${outcome.status}: no build was started.`);
        case 'refused':
            throw new UserError(`The broker at ${outcome.origin} refused the project token for the cache registry (HTTP ${outcome.status}): get a fresh project token.`);
        default: {
            const impossible = outcome;
            throw new Error(`unknown probe outcome ${JSON.stringify(impossible)}`);
        }
    }
}

;// CONCATENATED MODULE: ./shared/contract/exchange.ts
// The token exchange on the wire: `POST /auth/oidc/<provider>` with `{token, project?}`, answered by
// `{ok:true, token, project, isolated, expiresAt}` or `{ok:false, error:{code, message, requestId?}}`. The broker
// builds these shapes; the actions and the CLI read them with parseExchangeResponse.
const CI_PROVIDERS = (/* unused pure expression or super */ null && (['github-actions', 'circleci', 'gitlab', 'buildkite']));
function exchangePath(provider) {
    return `/auth/oidc/${provider}`;
}
/** The request's fields: anything else is refused (scope, isolation and lifetime come from the broker's config). */
const EXCHANGE_REQUEST_FIELDS = (/* unused pure expression or super */ null && (['token', 'project']));
/**
 * Reads a broker answer. Undefined when the body is not the contract's shape at all (an HTML error page from a
 * proxy, a truncated body): callers then speak of the HTTP status alone.
 */
function parseExchangeResponse(body) {
    if (!exchange_isObject(body))
        return undefined;
    if (body.ok === true) {
        const { token, project, isolated, expiresAt } = body;
        if (typeof token !== 'string' || token === '')
            return undefined;
        if (typeof project !== 'string' || project === '')
            return undefined;
        if (typeof isolated !== 'boolean')
            return undefined;
        if (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt)))
            return undefined;
        return { ok: true, token, project, isolated, expiresAt };
    }
    if (body.ok === false && exchange_isObject(body.error)) {
        const { code, message, requestId } = body.error;
        if (typeof code !== 'string' || code === '')
            return undefined;
        const error = { code, message: typeof message === 'string' ? message : '' };
        if (typeof requestId === 'string')
            error.requestId = requestId;
        return { ok: false, error };
    }
    return undefined;
}
function exchange_isObject(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}

;// CONCATENATED MODULE: ./shared/contract/exchange-client.ts


/** A URL as it may be shown: any `user:pass@` replaced by `***@`. */
function exchange_client_withoutCredentials(raw) {
    return raw.replace(/^([^/@]*\/\/)?[^/@]*@/, '$1***@');
}
/** 127.0.0.0/8, ::1 and localhost. */
function isLoopbackHost(hostname) {
    const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
    return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}
/**
 * A broker URL as given (`from` names where it came from, e.g. "DEPOT_BROKER_URL"), checked and with its trailing
 * slash stripped. The job's OIDC token travels to it, so it must be https (http only on a loopback host) and carry
 * no credentials (never echoed back).
 */
function checkBrokerUrl(raw, from) {
    let url;
    try {
        url = new URL(raw);
    }
    catch {
        throw new UserError(`${from} must be an https URL, got "${exchange_client_withoutCredentials(raw)}".`);
    }
    if (url.username || url.password) {
        throw new UserError(`${from} carries a user name or password (user:pass@): the broker needs none, the OIDC token is the credential; remove them.`);
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
        throw new UserError(`${from} is http:// on ${url.hostname}, which would send the job's OIDC token unencrypted: use https:// (http is accepted only on a loopback host).`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new UserError(`${from} must be an https URL, got "${exchange_client_withoutCredentials(raw)}".`);
    }
    return raw.replace(/\/+$/, '');
}
/**
 * The proxy dispatcher @actions/http-client chooses for `url` (https_proxy/HTTPS_PROXY, http_proxy/HTTP_PROXY,
 * no_proxy/NO_PROXY), undefined for none. Imported only when a proxy variable is set: it brings undici (0.8 MB of
 * JavaScript, about 40 ms of a CLI start) into the process, which the CLI otherwise never needs.
 */
async function proxyDispatcher(url) {
    const e = process.env;
    if (!e.https_proxy && !e.HTTPS_PROXY && !e.http_proxy && !e.HTTP_PROXY)
        return undefined;
    const { HttpClient } = await __nccwpck_require__.e(/* import() */ 942).then(__nccwpck_require__.bind(__nccwpck_require__, 4942));
    return new HttpClient().getAgentDispatcher(url);
}
/**
 * POSTs JSON to the broker through the proxy the environment names, following a redirect only within the broker's
 * own origin (307/308, at most 3): a redirect elsewhere would hand a credential to another host, and is a
 * UserError (a misconfiguration, not retried). Network errors are thrown as they are.
 */
async function postJson(url, body, opts) {
    const doFetch = opts.fetch ?? globalThis.fetch;
    let target = url;
    for (let hop = 0;; hop++) {
        const dispatcher = await proxyDispatcher(target);
        const init = {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json' },
            body,
            redirect: 'manual',
            signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
        };
        if (dispatcher)
            init.dispatcher = dispatcher;
        const res = await doFetch(target, init);
        if (res.status < 300 || res.status > 399)
            return res;
        const location = res.headers.get('location');
        const next = location ? new URL(location, target) : undefined;
        if (!next || next.origin !== new URL(target).origin) {
            throw new UserError(`The broker at ${new URL(url).origin} redirected ${opts.what} (${res.status}) to ${next ? next.host : 'nowhere'}: ${opts.credential} is never sent to another host; set ${opts.setting} to the broker's own URL.`);
        }
        if ((res.status !== 307 && res.status !== 308) || hop >= 2) {
            throw new UserError(`The broker at ${new URL(url).origin} answered ${res.status} with a redirect to ${next.pathname}: set ${opts.setting} to the broker's own URL.`);
        }
        target = next.href;
    }
}
/** The body as JSON, or undefined when it is not JSON at all (an HTML error page from a proxy). */
async function readJson(res) {
    try {
        return JSON.parse(await res.text());
    }
    catch {
        return undefined;
    }
}
/** A broker-supplied text as it may be shown: every secret replaced, on one line, at most 500 characters. */
function clean(message, ...secrets) {
    let out = message;
    for (const secret of secrets)
        if (secret)
            out = out.split(secret).join('***');
    return out
        .replace(/\s*\n\s*/g, ' ')
        .trim()
        .slice(0, 500);
}
/** `, request id X` when the broker gave one (in the body or the X-Request-Id header), else ''. */
function requestIdOf(res, bodyRequestId, ...secrets) {
    const raw = bodyRequestId ?? res.headers.get('x-request-id') ?? '';
    const requestId = raw ? clean(raw, ...secrets).slice(0, 80) : '';
    return { requestId, ref: requestId ? `, request id ${requestId}` : '' };
}
/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(header, now = Date.now()) {
    if (!header)
        return undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0)
        return seconds * 1000;
    const date = Date.parse(header);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
const MAX_BACKOFF_MS = 10_000;
const MAX_RETRY_AFTER_MS = 60_000;
/** 1 s, 2 s, 4 s ... at most 10 s: the pause before try `attempt + 1`. */
function backoffMs(attempt) {
    return Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS);
}
/** The exchange, with retries: see the header of this file. */
async function exchangeToken(call, deps) {
    const attempts = Math.max(1, deps.attempts ?? 4);
    const debug = deps.debug ?? (() => { });
    const url = `${call.brokerUrl}${exchangePath(call.provider)}`;
    let lastProblem = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
        let waitMs = backoffMs(attempt);
        let ciToken;
        try {
            ciToken = (await call.ciToken()).trim();
            if (ciToken === '')
                throw new Error('the CI handed out an empty OIDC token');
        }
        catch (err) {
            if (err instanceof UserError)
                throw err;
            lastProblem = errorMessage(err);
            debug(`exchangeToken: attempt ${attempt}: ${lastProblem}`);
            if (attempt < attempts)
                await deps.sleep(waitMs);
            continue;
        }
        deps.secret(ciToken);
        const body = call.project
            ? { token: ciToken, project: call.project }
            : { token: ciToken };
        let res;
        try {
            res = await postJson(url, JSON.stringify(body), {
                ...(deps.fetch ? { fetch: deps.fetch } : {}),
                ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
                what: 'the token exchange',
                credential: 'the OIDC token',
                setting: call.setting,
            });
        }
        catch (err) {
            if (err instanceof UserError)
                throw err;
            lastProblem = `cannot reach the broker at ${call.brokerUrl} (${clean(causeOf(err), ciToken)})`;
            debug(`exchangeToken: attempt ${attempt}: ${lastProblem}`);
            if (attempt < attempts)
                await deps.sleep(waitMs);
            continue;
        }
        const parsed = parseExchangeResponse(await readJson(res));
        if (res.ok && parsed?.ok === true) {
            deps.secret(parsed.token);
            return { kind: 'granted', grant: parsed };
        }
        const error = parsed?.ok === false ? parsed.error : undefined;
        const code = error?.code ?? `http_${res.status}`;
        const message = clean(error?.message || res.statusText, ciToken);
        const { requestId, ref } = requestIdOf(res, error?.requestId, ciToken);
        if (res.status === 429 || res.status >= 500) {
            lastProblem = `the broker answered ${res.status} ${code}${ref}${message ? `: ${message}` : ''}`;
            const retryAfter = retryAfterMs(res.headers.get('retry-after'), deps.now?.() ?? Date.now());
            if (retryAfter !== undefined)
                waitMs = Math.min(retryAfter, MAX_RETRY_AFTER_MS);
            debug(`exchangeToken: attempt ${attempt}: ${lastProblem}`);
            if (attempt < attempts)
                await deps.sleep(waitMs);
            continue;
        }
        if (res.ok) {
            throw new UserError(`The broker at ${call.brokerUrl} answered ${res.status} without a project token.`);
        }
        return { kind: 'refused', status: res.status, code, message, requestId };
    }
    return { kind: 'unavailable', reason: `${lastProblem} after ${attempts} tries` };
}
/** fetch's "fetch failed" says nothing: its cause (ECONNREFUSED ...) does. */
function causeOf(err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
    const own = errorMessage(err);
    return cause && own === 'fetch failed' ? cause : own;
}

;// CONCATENATED MODULE: ./cli/src/ci-token.ts
// A project token for a CI job that was handed none: the one cached for this job, else the CI's OIDC token
// exchanged at the broker (DEPOT_BROKER_URL) through the shared exchange client. Untrusted builds (a pull or merge
// request from another repository) never exchange. The outcomes, as DESIGN.md's failure semantics say: the broker
// unreachable, or 5xx/429 after bounded retries: exit 69; a refusal (4xx): exit 1 with the broker's code and
// request id; a broker URL but no CI token: one line naming the fix.






/** The env variables of this module, for each command's --help; `width` is the column the text starts at. */
function ciTokenEnvHelp(width) {
    const rows = [
        [
            'DEPOT_BROKER_URL',
            [
                'the broker (https; http only on loopback): with no token, a CircleCI, GitLab CI or',
                'Buildkite job exchanges its OIDC token there for a project token (never for a pull',
                'or merge request from a fork)',
            ],
        ],
        ['DEPOT_OIDC_AUDIENCE', ["the audience of the job's OIDC token (default: DEPOT_BROKER_URL)"]],
        [
            'DEPOT_OIDC_TOKEN',
            ["GitLab CI: the job's OIDC token (id_tokens: DEPOT_OIDC_TOKEN: aud: <broker url>)"],
        ],
        [
            'DEPOT_BUILDKITE_CLAIMS',
            ['Buildkite: claims added to the OIDC token (--claim), e.g. organization_id,pipeline_id'],
        ],
        [
            'DEPOT_CACHE_DIR',
            [
                "where a job's project token is kept until a minute before it expires",
                '(default: $XDG_CACHE_HOME/depot, else $HOME/.cache/depot)',
            ],
        ],
    ];
    const pad = ' '.repeat(width);
    return rows
        .map(([name, lines]) => {
        const head = `  ${name}`;
        // A name too long for the column gets a line of its own.
        const first = head.length < width ? head.padEnd(width) : `${head}\n${pad}`;
        return lines.map((l, i) => `${i === 0 ? first : pad}${l}\n`).join('');
    })
        .join('');
}
/** Who would tell the job its token: the fix when there is no CI OIDC token to exchange. */
function noCiHint(env) {
    const ci = env.GITHUB_ACTIONS === 'true'
        ? "in GitHub Actions the setup action exchanges the job's OIDC token and exports DEPOT_TOKEN"
        : 'depot exchanges the OIDC token of CircleCI, GitLab CI and Buildkite jobs';
    return `DEPOT_BROKER_URL is set but this job has no CI OIDC token to exchange (${ci}): set DEPOT_TOKEN (or --token), or unset DEPOT_BROKER_URL to build with no project cache.`;
}
async function tokenFromCi(opts, deps) {
    const { env } = opts;
    const raw = (env.DEPOT_BROKER_URL ?? '').trim();
    if (raw === '')
        return { kind: 'none' };
    const brokerUrl = checkBrokerUrl(raw, 'DEPOT_BROKER_URL');
    const job = detectCi(env);
    if (job?.untrusted) {
        return {
            kind: 'none',
            note: `${job.untrusted}: untrusted builds never exchange a CI token, so this build runs with no project cache.`,
        };
    }
    if (!job)
        throw new UserError(noCiHint(env));
    const audience = (env.DEPOT_OIDC_AUDIENCE || brokerUrl).replace(/\/+$/, '');
    const project = opts.project ?? '';
    const cache = job.jobId ? TokenCache.of(env, deps.now) : undefined;
    const key = { provider: job.provider, jobId: job.jobId, brokerUrl, project };
    const cached = cache?.read(key);
    if (cached) {
        addSecret(cached.raw);
        log.info(`using the project token this ${job.name} job got from ${brokerUrl} (project ${cached.project}, valid until ${cached.expiresAt.toISOString()}).`);
        return { kind: 'token', token: cached, source: 'cache' };
    }
    const outcome = await exchangeToken({
        brokerUrl,
        provider: job.provider,
        project,
        ciToken: () => ciToken(job, audience, env, deps.exec),
        setting: 'DEPOT_BROKER_URL',
    }, {
        fetch: deps.fetch,
        sleep: deps.sleep,
        secret: addSecret,
        debug: (m) => log.debug(m),
        now: deps.now,
        ...(deps.attempts !== undefined ? { attempts: deps.attempts } : {}),
    });
    switch (outcome.kind) {
        case 'granted': {
            const token = token_readProjectToken(outcome.grant.token, new Date(deps.now()), `The token the broker at ${brokerUrl} minted`);
            cache?.write(key, token.raw);
            log.info(`exchanged this ${job.name} job's OIDC token at ${brokerUrl} for a project token (project ${token.project}${token.isolated ? ', isolated' : ''}).`);
            return { kind: 'token', token, source: 'exchange' };
        }
        case 'refused': {
            const { status, code, message, requestId } = outcome;
            const ref = requestId ? `, request id ${requestId}` : '';
            throw new UserError(`The broker at ${brokerUrl} refused the token exchange (${status} ${code}${ref}): ${message || 'no message'}`);
        }
        case 'unavailable':
            throw new UnavailableError(`Token exchange failed: ${outcome.reason}; no build was started (set DEPOT_TOKEN, or unset DEPOT_BROKER_URL to build with no project cache).`);
    }
}

;// CONCATENATED MODULE: ./cli/src/flags.ts
// What `depot build` and `depot bake` accept: depot's own flags, and the docker buildx flags that pass through
// unchanged. A flag in neither table is refused with one line, so a typo never reaches buildx as a context path.




const BUILD_FLAGS = {
    'add-host': { value: true },
    allow: { value: true },
    annotation: { value: true, since: '0.12.0' },
    attest: { value: true, since: '0.10.0' },
    'build-arg': { value: true },
    'build-context': { value: true, since: '0.8.0' },
    builder: { value: true },
    'cache-from': { value: true },
    'cache-to': { value: true },
    call: { value: true, since: '0.15.0' },
    'cgroup-parent': { value: true },
    check: { value: false, since: '0.14.0' },
    detach: { value: false },
    file: { value: true, short: 'f' },
    iidfile: { value: true },
    label: { value: true },
    load: { value: false },
    'metadata-file': { value: true },
    network: { value: true },
    'no-cache': { value: false },
    'no-cache-filter': { value: true },
    output: { value: true, short: 'o' },
    platform: { value: true },
    progress: { value: true },
    provenance: { value: true, since: '0.10.0' },
    pull: { value: false },
    push: { value: false },
    quiet: { value: false, short: 'q' },
    sbom: { value: true, since: '0.10.0' },
    secret: { value: true },
    'shm-size': { value: true },
    ssh: { value: true },
    tag: { value: true, short: 't' },
    target: { value: true },
    ulimit: { value: true },
};
const BAKE_FLAGS = {
    allow: { value: true, since: '0.19.0' },
    builder: { value: true },
    call: { value: true, since: '0.16.0' },
    check: { value: false, since: '0.16.0' },
    file: { value: true, short: 'f' },
    list: { value: true, since: '0.20.0' },
    load: { value: false },
    'metadata-file': { value: true },
    'no-cache': { value: false },
    print: { value: false },
    progress: { value: true },
    provenance: { value: true, since: '0.10.0' },
    pull: { value: false },
    push: { value: false },
    sbom: { value: true, since: '0.10.0' },
    set: { value: true },
    var: { value: true, since: '0.31.0' },
};
/** depot's own flags, for build and bake alike (`token` is build's and bake's; `help`/`debug` are everyone's). */
const DEPOT_FLAGS = {
    project: { value: true },
    token: { value: true },
    save: { value: false },
    'save-tag': { value: true },
    'build-platform': { value: true },
    'cache-key': { value: true },
    lint: { value: false },
    'lint-fail-on': { value: true },
    'sbom-dir': { value: true },
    debug: { value: false },
    help: { value: false, short: 'h' },
};
/** The environment part of `depot build --help` and `depot bake --help`: what both read. */
const BUILDX_ENV_HELP = `Environment:
  DEPOT_TOKEN               the project token (when --token is not given)
  DEPOT_PROJECT_ID          the project (when --project is not given; before depot.json and the token)
${ciTokenEnvHelp(28)}  DOCKER_CONFIG             your Docker config folder (default: $HOME/.docker), copied into a temporary one
                            that adds the cache registry's credentials
  RUNNER_TEMP               where temporary files go (default: the system's temp folder)
Other variables (BUILDX_BUILDER, BUILDKIT_PROGRESS, ...) reach docker buildx unchanged.
`;
function lookup(table, word) {
    if (word.startsWith('--')) {
        const name = word.slice(2);
        const spec = table[name];
        return spec ? [name, spec] : undefined;
    }
    for (const [name, spec] of Object.entries(table))
        if (spec.short === word.slice(1))
            return [name, spec];
    return undefined;
}
function parseArgs(command, argv) {
    const buildxTable = command === 'build' ? BUILD_FLAGS : BAKE_FLAGS;
    const depot = {
        save: false,
        saveTags: [],
        lint: false,
        lintFailOn: 'error',
        debug: false,
        help: false,
    };
    const buildx = [];
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        const word = argv[i];
        if (word === '--') {
            positional.push(...argv.slice(i + 1));
            break;
        }
        if (!word.startsWith('-') || word === '-') {
            positional.push(word);
            continue;
        }
        const eq = word.indexOf('=');
        const key = eq > 0 ? word.slice(0, eq) : word;
        const inline = eq > 0 ? word.slice(eq + 1) : undefined;
        const own = lookup(DEPOT_FLAGS, key);
        const theirs = own ? undefined : lookup(buildxTable, key);
        const found = own ?? theirs;
        if (!found) {
            throw new UserError(`Unknown flag ${key} for depot ${command}: it is neither a depot flag nor a docker buildx ${command} flag. See \`depot ${command} --help\`.`);
        }
        const [name, spec] = found;
        let value;
        const words = [word];
        if (spec.value) {
            if (inline !== undefined)
                value = inline;
            else {
                const next = argv[i + 1];
                if (next === undefined)
                    throw new UserError(`Flag ${key} needs a value, e.g. \`${key} VALUE\`.`);
                value = next;
                words.push(next);
                i++;
            }
        }
        else if (inline !== undefined) {
            if (!/^(true|false)$/.test(inline))
                throw new UserError(`Flag ${key} takes no value (got "${inline}").`);
            if (inline === 'false')
                continue;
        }
        if (own)
            applyDepotFlag(depot, name, value);
        else
            buildx.push(value === undefined ? { name, words } : { name, value, words });
    }
    return { depot, buildx, positional };
}
function applyDepotFlag(o, name, value) {
    const v = value ?? '';
    switch (name) {
        case 'project':
            o.project = v;
            break;
        case 'token':
            o.token = v;
            break;
        case 'save':
            o.save = true;
            break;
        case 'save-tag':
            o.saveTags.push(v);
            break;
        case 'build-platform': {
            const platform = v === 'amd64' || v === 'arm64' ? `linux/${v}` : v;
            if (!BUILD_PLATFORMS.includes(platform)) {
                throw new UserError(`--build-platform must be one of ${BUILD_PLATFORMS.join(', ')} (got "${v}").`);
            }
            o.buildPlatform = platform;
            break;
        }
        case 'cache-key':
            if (!tagSafe(v)) {
                throw new UserError(`--cache-key ${JSON.stringify(v)} has no letter, digit or "_" to make a cache tag from: give a name such as the image's, e.g. \`--cache-key web\`.`);
            }
            o.cacheKey = v;
            break;
        case 'lint':
            o.lint = true;
            break;
        case 'lint-fail-on': {
            const level = v === 'warning' ? 'warn' : v;
            if (!LINT_LEVELS.includes(level)) {
                throw new UserError(`--lint-fail-on must be one of ${LINT_LEVELS.join(', ')} (got "${v}").`);
            }
            o.lintFailOn = level;
            break;
        }
        case 'sbom-dir':
            o.sbomDir = v;
            break;
        case 'debug':
            o.debug = true;
            break;
        case 'help':
            o.help = true;
            break;
        default:
            throw new UserError(`Internal error: depot flag --${name} has no handler.`);
    }
}
/** The flags of `parsed` that this buildx is too old for, as one error naming the flag and the version it needs. */
function minimumVersion(command, name) {
    return (command === 'build' ? BUILD_FLAGS : BAKE_FLAGS)[name]?.since;
}
function values(flags, name) {
    return flags.filter((f) => f.name === name).map((f) => f.value ?? '');
}
function has(flags, name) {
    return flags.some((f) => f.name === name);
}
function toWords(flags) {
    return flags.flatMap((f) => f.words);
}

;// CONCATENATED MODULE: ./cli/src/process.ts
// The CLI's layer over shared/exec (which spawns, forwards SIGINT/SIGTERM and computes 128 + signal): children
// write straight to the user's terminal, a missing command is one line saying what to install, and cleanups
// registered here run however the command ends, also when a signal arrives while no child is running.



const INSTALL_DOCKER = 'install Docker Engine with the buildx plugin (docker-buildx)';
const cleanups = [];
function onCleanup(fn) {
    cleanups.push(fn);
}
function runCleanups() {
    while (cleanups.length > 0) {
        const fn = cleanups.pop();
        try {
            fn?.();
        }
        catch {
            // best effort: a cleanup never hides the command's own result
        }
    }
}
let interrupted;
/** A signal while a child runs reaches the child (shared/exec forwards it); with none, clean up and exit. */
function onSignal(signal) {
    interrupted = signal;
    if (liveChildren() === 0) {
        runCleanups();
        process.exit(signalExitStatus(signal));
    }
}
function installSignalHandlers() {
    for (const s of ['SIGINT', 'SIGTERM'])
        process.on(s, onSignal);
}
function wasInterrupted() {
    return interrupted;
}
async function run(cmd, args, opts = {}) {
    log.debug(`running ${showCommand(cmd, args)}`);
    try {
        return await exec(cmd, args, {
            output: 'inherit',
            stdin: opts.stdin ? 'inherit' : 'ignore',
            ...(opts.capture ? { captureStdout: true, silent: true } : {}),
            ...(opts.env ? { env: opts.env } : {}),
            ...(opts.cwd ? { cwd: opts.cwd } : {}),
        });
    }
    catch (err) {
        if (err instanceof CommandNotFound) {
            throw new UserError(opts.notFound ?? `${cmd} is not installed or not on PATH: ${INSTALL_DOCKER}.`);
        }
        throw new UserError(`Cannot run ${cmd}: ${errorMessage(err)}`);
    }
}

;// CONCATENATED MODULE: ./cli/src/buildx.ts
// What we need to know about the installed buildx: its version (to refuse a flag it is too old for, with the
// version that flag needs), read by shared/'s parser: a version we cannot read is treated as current.






async function buildxVersion(env) {
    const res = await run('docker', ['buildx', 'version'], { env, capture: true });
    if (res.exitCode !== 0)
        throw new UserError(`\`docker buildx version\` failed: ${INSTALL_DOCKER}.`);
    return parseBuildxVersion(res.stdout);
}
/** Refuses the first flag (or depot feature) that needs a newer buildx than `version`. */
function checkFlagVersions(command, version, flags, features = []) {
    if (!version)
        return;
    const needs = [
        ...flags.map((f) => ({ name: `--${f.name}`, since: minimumVersion(command, f.name) })),
        ...features,
    ];
    for (const { name, since } of needs) {
        if (since && semver_default().lt(version, since)) {
            throw new UserError(`${name} needs docker buildx ${since} or newer, but buildx ${version} is installed: upgrade buildx or drop ${name}.`);
        }
    }
}

;// CONCATENATED MODULE: ./cli/src/docker-config.ts
// A temporary DOCKER_CONFIG for one depot command: the user's own config.json (logins, credential helpers,
// contexts, builders, plugins all kept) plus the cache registry's credentials, and a cli-plugins folder in which
// docker-buildx is the real buildx plugin, never depot's own shim (configure-docker). The user's config is only
// read; the directory is 0700 and removed when the command ends, also on SIGINT/SIGTERM.




function userConfigDir(env) {
    return env.DOCKER_CONFIG || (0,external_node_path_namespaceObject.join)(env.HOME || (0,external_node_os_namespaceObject.homedir)(), '.docker');
}
function readConfigJson(dir) {
    const file = (0,external_node_path_namespaceObject.join)(dir, 'config.json');
    if (!(0,external_node_fs_namespaceObject.existsSync)(file))
        return {};
    let json;
    try {
        json = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8'));
    }
    catch {
        throw new UserError(`${file} is not valid JSON: fix or remove it (docker itself cannot read it either).`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
        throw new UserError(`${file} is not a JSON object: fix or remove it.`);
    }
    return json;
}
/** The credential helper depot writes for the cache host when the user's config has a `credsStore`. */
const CACHE_HELPER = 'depot-cache';
/**
 * The user's config with `creds` added for their hosts (and any credential helper of the user's for those hosts
 * removed). docker reads `auths` only when no `credsStore` is set; with one, each host gets depot's own helper
 * (`credHelpers[host] = "depot-cache"`), which TempDockerConfig puts on buildx's PATH.
 */
function mergeConfig(user, creds) {
    const out = { ...user };
    const auths = { ...(isObj(user.auths) ? user.auths : {}) };
    const helpers = isObj(user.credHelpers)
        ? { ...user.credHelpers }
        : undefined;
    const store = typeof user.credsStore === 'string' && user.credsStore !== '';
    for (const c of creds) {
        auths[c.host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
        if (helpers)
            delete helpers[c.host];
    }
    out.auths = auths;
    if (store && creds.length > 0) {
        const withOurs = { ...(helpers ?? {}) };
        for (const c of creds)
            withOurs[c.host] = CACHE_HELPER;
        out.credHelpers = withOurs;
    }
    else if (helpers)
        out.credHelpers = helpers;
    return out;
}
/** A docker credential helper (`get` only) answering from a 0600 file next to it. */
function helperScript(file) {
    const q = `'${file.replace(/'/g, `'\\''`)}'`;
    return `#!/bin/sh\n# depot: the cache registry's credentials for one build (removed with this directory).\ncase "$1" in\n  get) cat ${q} ;;\n  list) echo '{}' ;;\n  *) exit 0 ;;\nesac\n`;
}
function isObj(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}
/** Where configure-docker records the real buildx plugin, inside the user's config dir. */
const SHIM_STATE = 'depot-configure-docker.json';
function readShimState(configDir) {
    const file = (0,external_node_path_namespaceObject.join)(configDir, SHIM_STATE);
    if (!(0,external_node_fs_namespaceObject.existsSync)(file))
        return undefined;
    try {
        const json = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8'));
        if (isObj(json) && typeof json.buildx === 'string') {
            const s = { buildx: json.buildx };
            if (typeof json.previousBuilderAlias === 'string')
                s.previousBuilderAlias = json.previousBuilderAlias;
            return s;
        }
    }
    catch {
        // fall through: a broken state file is reported below
    }
    throw new UserError(`${file} is unreadable: run \`depot configure-docker --uninstall\` and then install again.`);
}
class TempDockerConfig {
    dir;
    /** A folder to put first on buildx's PATH (depot's credential helper), when one was needed. */
    pathPrefix;
    removed = false;
    constructor(dir) {
        this.dir = dir;
    }
    static create(opts) {
        const userDir = userConfigDir(opts.env);
        const config = mergeConfig(readConfigJson(userDir), opts.creds);
        const dir = (0,external_node_fs_namespaceObject.mkdtempSync)((0,external_node_path_namespaceObject.join)(opts.env.RUNNER_TEMP || (0,external_node_os_namespaceObject.tmpdir)(), 'depot-docker-config-'));
        const tmp = new TempDockerConfig(dir);
        try {
            (0,external_node_fs_namespaceObject.writeFileSync)((0,external_node_path_namespaceObject.join)(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
            const helped = isObj(config.credHelpers)
                ? opts.creds.filter((c) => config.credHelpers[c.host] === CACHE_HELPER)
                : [];
            const first = helped[0];
            if (first) {
                (0,external_node_fs_namespaceObject.mkdirSync)((0,external_node_path_namespaceObject.join)(dir, 'bin'));
                const secret = (0,external_node_path_namespaceObject.join)(dir, 'cache-credentials.json');
                const answer = { ServerURL: first.host, Username: first.username, Secret: first.password };
                (0,external_node_fs_namespaceObject.writeFileSync)(secret, JSON.stringify(answer), { mode: 0o600 });
                (0,external_node_fs_namespaceObject.writeFileSync)((0,external_node_path_namespaceObject.join)(dir, 'bin', `docker-credential-${CACHE_HELPER}`), helperScript(secret), {
                    mode: 0o700,
                });
                tmp.pathPrefix = (0,external_node_path_namespaceObject.join)(dir, 'bin');
            }
            for (const sub of ['contexts', 'buildx']) {
                if ((0,external_node_fs_namespaceObject.existsSync)((0,external_node_path_namespaceObject.join)(userDir, sub)))
                    (0,external_node_fs_namespaceObject.symlinkSync)((0,external_node_path_namespaceObject.join)(userDir, sub), (0,external_node_path_namespaceObject.join)(dir, sub));
            }
            const shim = readShimState(userDir);
            const plugins = (0,external_node_path_namespaceObject.join)(userDir, 'cli-plugins');
            if ((0,external_node_fs_namespaceObject.existsSync)(plugins) || shim) {
                (0,external_node_fs_namespaceObject.mkdirSync)((0,external_node_path_namespaceObject.join)(dir, 'cli-plugins'));
                if ((0,external_node_fs_namespaceObject.existsSync)(plugins)) {
                    for (const name of (0,external_node_fs_namespaceObject.readdirSync)(plugins)) {
                        if (shim && name === 'docker-buildx')
                            continue;
                        (0,external_node_fs_namespaceObject.symlinkSync)((0,external_node_path_namespaceObject.join)(plugins, name), (0,external_node_path_namespaceObject.join)(dir, 'cli-plugins', name));
                    }
                }
                if (shim)
                    (0,external_node_fs_namespaceObject.symlinkSync)(shim.buildx, (0,external_node_path_namespaceObject.join)(dir, 'cli-plugins', 'docker-buildx'));
            }
        }
        catch (err) {
            tmp.remove();
            throw err;
        }
        return tmp;
    }
    remove() {
        if (this.removed)
            return;
        this.removed = true;
        (0,external_node_fs_namespaceObject.rmSync)(this.dir, { recursive: true, force: true });
    }
}

;// CONCATENATED MODULE: ./cli/src/project.ts
// Which project a build belongs to: --project > DEPOT_PROJECT_ID > depot.json (searched upward from the context)
// > the token's project claim. A project named anywhere that differs from the token's is refused before anything
// runs: the token would not open that project's cache anyway.




function findDepotJson(from) {
    let dir = (0,external_node_path_namespaceObject.resolve)(from);
    for (;;) {
        const file = (0,external_node_path_namespaceObject.join)(dir, 'depot.json');
        if ((0,external_node_fs_namespaceObject.existsSync)(file))
            return file;
        const up = (0,external_node_path_namespaceObject.dirname)(dir);
        if (up === dir)
            return undefined;
        dir = up;
    }
}
function readDepotJson(file) {
    let json;
    try {
        json = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8'));
    }
    catch {
        throw new UserError(`${file} is not valid JSON: write {"id": "<project id>"} or run \`depot init --project ID\`.`);
    }
    const id = json !== null && typeof json === 'object' ? json.id : undefined;
    if (typeof id !== 'string' || id === '') {
        throw new UserError(`${file} has no "id": write {"id": "<project id>"} or run \`depot init --project ID\`.`);
    }
    return id;
}
function resolveProject(opts) {
    let choice = {};
    if (opts.flag)
        choice = { id: opts.flag, source: '--project' };
    else if (opts.env.DEPOT_PROJECT_ID)
        choice = { id: opts.env.DEPOT_PROJECT_ID, source: 'DEPOT_PROJECT_ID' };
    else if (opts.searchFrom && (0,external_node_fs_namespaceObject.existsSync)(opts.searchFrom)) {
        const file = findDepotJson(opts.searchFrom);
        if (file)
            choice = { id: readDepotJson(file), source: file };
    }
    if (choice.id !== undefined && !PROJECT_ID.test(choice.id)) {
        throw new UserError(`Project "${choice.id}" (from ${choice.source}) is not a valid project id: use ${PROJECT_ID_HINT}.`);
    }
    if (opts.token) {
        if (choice.id !== undefined && choice.id !== opts.token.project) {
            throw new UserError(`The project token is for project "${opts.token.project}", but ${choice.source} names "${choice.id}": use a token for "${choice.id}" or drop the project setting.`);
        }
        return { id: opts.token.project, source: choice.source ?? 'the token' };
    }
    return choice;
}

;// CONCATENATED MODULE: ./cli/src/session.ts
// What every build-like command sets up before buildx runs: the project token (--token > DEPOT_TOKEN > the one
// cached for this CI job > the CI's OIDC token exchanged at DEPOT_BROKER_URL > none), its claims, the project, the
// build id, the cache probe and the temporary DOCKER_CONFIG, in that order, so every refusal comes before anything
// starts.
















/** Set in buildx's env by depot: a depot shim reached again from inside a depot build is a loop. */
const SHIM_GUARD = 'DEPOT_INSIDE_BUILD';
function defaultSessionDeps() {
    return {
        exec: exec,
        fetch: globalThis.fetch,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        now: Date.now,
    };
}
class Session {
    token;
    project;
    env;
    note;
    buildID = newBuildID();
    version = null;
    constructor(token, project, 
    /** buildx's env: the temp DOCKER_CONFIG and the loop guard; no DEPOT_TOKEN, no DEPOT_OIDC_TOKEN. */
    env, 
    /** With no token: the one line that says why, when it is more than "none was given". */
    note) {
        this.token = token;
        this.project = project;
        this.env = env;
        this.note = note;
    }
    static async open(opts) {
        const raw = opts.tokenFlag ?? opts.env.DEPOT_TOKEN;
        const choose = (token) => resolveProject({
            ...(opts.projectFlag !== undefined ? { flag: opts.projectFlag } : {}),
            env: opts.env,
            ...(opts.searchFrom !== undefined ? { searchFrom: opts.searchFrom } : {}),
            ...(token ? { token } : {}),
        });
        let token;
        let note;
        if (raw !== undefined && raw.trim() !== '') {
            addSecret(raw.trim());
            token = token_readProjectToken(raw);
        }
        else {
            const deps = { ...defaultSessionDeps(), ...opts.deps };
            const named = choose().id;
            const found = await traced('token from CI', () => tokenFromCi({ env: opts.env, ...(named ? { project: named } : {}) }, deps));
            if (found.kind === 'token')
                token = found.token;
            else
                note = found.note;
        }
        const project = choose(token);
        // build-push and bake probe with the token they hand over and say so (shared/cache-probe.ts): no second probe.
        const probed = token !== undefined && opts.env[CACHE_PROBED_ENV] === probedMark(token.raw);
        if (opts.probe && token?.cache && !probed)
            await traced('cache probe', () => probeCache(token));
        const env = { ...opts.env, [SHIM_GUARD]: '1' };
        delete env.DEPOT_TOKEN;
        delete env.DEPOT_OIDC_TOKEN;
        const creds = token?.cache && !token.isolated
            ? [{ host: token.cache.host, username: 'depot', password: token.raw }]
            : [];
        if (creds.length > 0 || readShimState(userConfigDir(opts.env))) {
            const tmp = TempDockerConfig.create({ env: opts.env, creds });
            onCleanup(() => tmp.remove());
            env.DOCKER_CONFIG = tmp.dir;
            if (tmp.pathPrefix)
                env.PATH = `${tmp.pathPrefix}:${env.PATH ?? ''}`;
        }
        return new Session(token, project.id, env, note);
    }
    /** The installed buildx's version: the one the action handed over (docker-facts.ts), else `docker buildx version`. */
    async buildxVersion() {
        if (this.version === null) {
            const handed = readDockerFacts(this.env)?.buildx;
            this.version = handed ?? (await traced('buildx version', () => buildxVersion(this.env)));
        }
        return this.version;
    }
    /** Refuses `--save` before anything runs when this token cannot push a saved build. */
    requireSave() {
        if (this.token?.isolated) {
            throw new UserError('This build is isolated (its project token is isolated): isolated builds cannot --save.');
        }
        if (!this.token?.scopes.has('cache:write')) {
            throw new UserError(this.token
                ? '--save needs a project token with cache:write (this token cannot push to the project).'
                : '--save needs a project token: set DEPOT_TOKEN (or --token).');
        }
    }
    /** The saved-builds repository of this project in the cache registry. */
    savedRepository() {
        if (!this.token?.cache || !this.project) {
            throw new UserError('Saved builds need a project token with a cache registry: set DEPOT_TOKEN (or --token).');
        }
        return `${this.token.cache.host}/${savedBuildsRepository(this.project)}`;
    }
    /** `depot.build` added to the metadata file buildx wrote (or a new file when buildx wrote none). */
    addBuildInfo(file) {
        let json = {};
        if ((0,external_node_fs_namespaceObject.existsSync)(file)) {
            try {
                const parsed = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8') || '{}');
                if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
                    json = parsed;
            }
            catch {
                log.warn(`${file} is not JSON: writing depot.build into a fresh metadata file.`);
            }
        }
        json['depot.build'] = {
            buildID: this.buildID,
            projectID: this.project ?? '',
            isolated: this.token?.isolated ?? false,
        };
        (0,external_node_fs_namespaceObject.writeFileSync)(file, `${JSON.stringify(json, null, 2)}\n`);
    }
}
/** 20 lowercase base-32 characters: a valid image tag, unguessable. */
function newBuildID() {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    return [...(0,external_node_crypto_.randomBytes)(20)].map((b) => alphabet[b % 32]).join('');
}

;// CONCATENATED MODULE: ./shared/contract/bake.ts
// What the bake action and `depot bake` agree on: the action reads the definition once (`docker buildx bake
// --print`) and hands the CLI that JSON in a file, so a step runs `--print` once, not in the action and again in
// the CLI.
/** The path of a file holding `docker buildx bake --print`'s JSON for the very flags, source and targets given. */
const BAKE_DEFINITION_ENV = 'DEPOT_BAKE_DEFINITION';

;// CONCATENATED MODULE: ./cli/src/bake.ts
// `depot bake`: docker buildx bake with the user's flags, files and targets unchanged, plus the project cache per
// target (key = target name), --save per target, --lint, and depot.build in the metadata file.













const BAKE_HELP = `Usage: depot bake [OPTIONS] [SOURCE] [TARGET...]

Build bake targets with docker buildx and the project's cache (one cache key per target). Every
\`docker buildx bake\` flag works unchanged; SOURCE may be a git or https URL of a remote bake definition.

depot options:
      --project ID          project id (default: DEPOT_PROJECT_ID, depot.json, the token's project)
      --token TOKEN         project token (default: DEPOT_TOKEN)
      --save                push each target to the project's saved builds as <build id>-<target>
      --save-tag TAG        also save each target as <TAG>-<target> (repeatable)
      --build-platform P    where to build each platform: dynamic, linux/amd64 or linux/arm64
      --cache-key KEY       the project cache to read and write (default: each target's name). When the bake
                            builds one target, KEY is its cache; with several, each target's is <KEY>-<target>,
                            so they stay apart. Characters other than letters, digits, "_", "." and "-"
                            become "-"; at most 128 are kept
      --lint                run buildx's build checks before the build
      --lint-fail-on L      error (default), warn, info or none: which findings stop the build
      --sbom-dir DIR        generate SBOMs (attached to the images; see depot build for files)
      --debug               print the commands depot runs (secrets redacted)
  -h, --help                this help

${BUILDX_ENV_HELP}`;
function isRemoteSource(word) {
    return /^(https?:\/\/|git:\/\/|ssh:\/\/|git@)/.test(word);
}
function parsePrint(stdout) {
    let json;
    try {
        json = JSON.parse(stdout);
    }
    catch {
        throw new UserError('`docker buildx bake --print` did not print JSON: check the bake file.');
    }
    const targets = json !== null && typeof json === 'object' ? json.target : undefined;
    if (targets === null || typeof targets !== 'object')
        return [];
    return Object.entries(targets).map(([name, t]) => {
        const rec = t !== null && typeof t === 'object' ? t : {};
        return {
            name,
            tags: Array.isArray(rec.tags) ? rec.tags.filter((x) => typeof x === 'string') : [],
            outputs: Array.isArray(rec.output) ? rec.output : [],
        };
    });
}
/** The `bake --print` JSON the bake action wrote for this very bake (BAKE_DEFINITION_ENV). */
function readDefinitionFile(file) {
    try {
        return (0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8');
    }
    catch {
        throw new UserError(`${BAKE_DEFINITION_ENV} names ${file}, which cannot be read: unset it to let depot bake read the definition itself.`);
    }
}
/** The `--set` flags that add the project cache and --save to each target. */
function bakeSets(opts) {
    const op = opts.append ? '+=' : '=';
    const out = { cache: [], cacheFrom: [], save: [], savePass: opts.routed ?? false };
    for (const t of opts.targets) {
        const key = cacheKey(t.name, opts.depot.cacheKey, opts.targets.length > 1);
        const cache = cacheFlags(opts.session.token, key, opts.cacheExport ?? true);
        if (cache.cacheFrom) {
            out.cache.push('--set', `${t.name}.cache-from${op}${cache.cacheFrom}`);
            out.cacheFrom.push('--set', `${t.name}.cache-from${op}${cache.cacheFrom}`);
        }
        if (cache.cacheTo)
            out.cache.push('--set', `${t.name}.cache-to${op}${cache.cacheTo}`);
        if (opts.depot.save) {
            if (t.tags.length > 0 || t.outputs.length > 0)
                out.savePass = true;
            if (t.tags.length > 0)
                out.save.push('--set', `${t.name}.tags=`);
            const repo = opts.session.savedRepository();
            const names = [opts.session.buildID, ...opts.depot.saveTags].map((tag) => `${repo}:${tag}-${t.name}`);
            out.save.push('--set', `${t.name}.output=type=image,"name=${names.join(',')}",push=true`);
        }
    }
    return out;
}
async function bake(argv, env) {
    const { depot, buildx: flags, positional } = parseArgs('bake', argv);
    setDebug(depot.debug);
    if (depot.help) {
        process.stdout.write(BAKE_HELP);
        return 0;
    }
    const firstFile = values(flags, 'file')[0];
    const remote = positional[0] !== undefined && isRemoteSource(positional[0]);
    const session = await Session.open({
        env,
        probe: true,
        ...(depot.token !== undefined ? { tokenFlag: depot.token } : {}),
        ...(depot.project !== undefined ? { projectFlag: depot.project } : {}),
        ...(!remote ? { searchFrom: firstFile ? (0,external_node_path_namespaceObject.dirname)((0,external_node_path_namespaceObject.resolve)(firstFile)) : process.cwd() } : {}),
    });
    if (depot.save)
        session.requireSave();
    const version = await session.buildxVersion();
    checkFlagVersions('bake', version, flags, depot.lint ? [{ name: '--lint', since: '0.16.0' }] : []);
    if (has(flags, 'print') || has(flags, 'list') || values(flags, 'call').some((c) => c !== 'build')) {
        const res = await run('docker', ['buildx', 'bake', ...toWords(flags), ...positional], {
            env: session.env,
        });
        return res.exitCode;
    }
    if (session.token)
        log.info(describeCache(session.token));
    else
        log.warn(session.note ?? describeCache(undefined));
    log.info(`build ID ${session.buildID}${session.project ? `, project ${session.project}` : ''}`);
    if (depot.buildPlatform) {
        log.info(`--build-platform ${depot.buildPlatform}: this builder is a single local BuildKit, so every platform is built on this machine (${process.arch}; others under QEMU emulation).`);
    }
    const definition = flags.filter((f) => ['file', 'set', 'var', 'allow'].includes(f.name));
    // The targets (from `bake --print`) are needed only to add per-target cache or save settings.
    let targets = [];
    const cached = session.token?.cache && !session.token.isolated;
    if (cached || depot.save) {
        // The bake action has read the definition already and hands it over: `--print` runs once per step.
        const given = env[BAKE_DEFINITION_ENV];
        if (given) {
            targets = parsePrint(readDefinitionFile(given));
        }
        else {
            const printed = await run('docker', ['buildx', 'bake', ...toWords(definition), '--print', ...positional], {
                env: session.env,
                capture: true,
            });
            if (printed.exitCode !== 0)
                return printed.exitCode;
            targets = parsePrint(printed.stdout);
        }
    }
    const append = !version || semver_default().gte(version, '0.17.0');
    if (!append && session.token?.cache) {
        log.warn(`buildx ${version} cannot append to a target's cache settings: the project cache replaces the bake file's cache-from/cache-to.`);
    }
    // Asked once per CI job (builder-probe.ts), only when this bake would write the project cache.
    const cacheExport = writesCache(session.token)
        ? await cacheExportAllowed(session.env, values(flags, 'builder').at(-1))
        : true;
    const sets = bakeSets({
        targets,
        session,
        depot,
        append,
        routed: has(flags, 'push') || has(flags, 'load'),
        cacheExport,
    });
    if (depot.lint) {
        const check = await run('docker', ['buildx', 'bake', ...toWords(definition), '--call', 'check', ...positional], {
            env: session.env,
        });
        if (check.exitCode !== 0) {
            const stops = depot.lintFailOn !== 'none' && depot.lintFailOn !== 'error';
            log.info(`lint: the build checks found problems (see above)${stops ? '' : `; --lint-fail-on ${depot.lintFailOn} lets the build go on`}`);
            if (stops) {
                log.error(`lint found warnings at or above --lint-fail-on ${depot.lintFailOn}: fix them, or set --lint-fail-on to a higher level.`);
                return 1;
            }
        }
        else
            log.info('lint: no findings');
    }
    const tmp = (0,external_node_fs_namespaceObject.mkdtempSync)((0,external_node_path_namespaceObject.join)(env.RUNNER_TEMP || (0,external_node_os_namespaceObject.tmpdir)(), 'depot-bake-'));
    onCleanup(() => (0,external_node_fs_namespaceObject.rmSync)(tmp, { recursive: true, force: true }));
    const metadataFile = values(flags, 'metadata-file').at(-1) ?? (0,external_node_path_namespaceObject.join)(tmp, 'metadata.json');
    const extra = [...sets.cache, ...(sets.savePass ? [] : sets.save)];
    if (!has(flags, 'metadata-file'))
        extra.push('--metadata-file', metadataFile);
    if (depot.sbomDir && !has(flags, 'sbom'))
        extra.push('--sbom=true');
    const res = await run('docker', ['buildx', 'bake', ...toWords(flags), ...extra, ...positional], {
        env: session.env,
    });
    // A failed bake still names its build id and project in the metadata file, for the action's outputs.
    if (res.exitCode !== 0) {
        session.addBuildInfo(metadataFile);
        return res.exitCode;
    }
    if (depot.save && sets.savePass) {
        log.info(`saving the targets to ${session.savedRepository()} (a second pass, from the cache just built)`);
        // The user's own tags and outputs stay out of this pass: it pushes to the saved-builds repository only.
        const kept = flags.filter((f) => ['file', 'set', 'var', 'allow', 'builder', 'progress', 'provenance', 'sbom'].includes(f.name) &&
            !(f.name === 'set' && /^[^=]*\.(tags|output)\+?=/.test(f.value ?? '')));
        const saved = await run('docker', ['buildx', 'bake', ...toWords(kept), ...sets.cacheFrom, ...sets.save, ...positional], {
            env: session.env,
        });
        if (saved.exitCode !== 0) {
            log.error(`the bake succeeded but saving it to ${session.savedRepository()} failed (exit ${saved.exitCode}).`);
            session.addBuildInfo(metadataFile);
            return saved.exitCode;
        }
    }
    session.addBuildInfo(metadataFile);
    if (depot.save)
        for (const t of targets)
            log.info(`saved ${t.name} as ${session.savedRepository()}:${session.buildID}-${t.name}`);
    if (depot.sbomDir)
        log.warn('depot bake attaches SBOMs to the images; --sbom-dir files are written by depot build only.');
    return 0;
}

;// CONCATENATED MODULE: ./cli/src/lint.ts
const RANK = { error: 3, warn: 2, info: 1 };
const THRESHOLD = { error: 3, warn: 2, info: 1, none: Infinity };
function parseCheckOutput(stdout, exitCode, file = 'Dockerfile') {
    let json;
    try {
        json = JSON.parse(stdout);
    }
    catch {
        return exitCode === 0
            ? []
            : [
                {
                    level: 'error',
                    rule: 'check',
                    message: `the build checks could not run (exit ${exitCode}): see buildx's error above`,
                },
            ];
    }
    const findings = [];
    const obj = json !== null && typeof json === 'object' ? json : {};
    const warnings = Array.isArray(obj.warnings) ? obj.warnings : [];
    for (const w of warnings) {
        if (w === null || typeof w !== 'object')
            continue;
        const rec = w;
        const line = lineOf(rec.location);
        const finding = {
            level: 'warn',
            rule: typeof rec.ruleName === 'string' ? rec.ruleName : 'check',
            message: typeof rec.detail === 'string' ? rec.detail : String(rec.description ?? ''),
        };
        if (line)
            finding.where = `${file}:${line}`;
        findings.push(finding);
    }
    if (obj.error !== undefined && obj.error !== null) {
        findings.push({ level: 'error', rule: 'check', message: JSON.stringify(obj.error) });
    }
    return findings;
}
function lineOf(location) {
    if (location === null || typeof location !== 'object')
        return undefined;
    const ranges = location.ranges;
    if (!Array.isArray(ranges))
        return undefined;
    const first = ranges[0];
    if (first === null || typeof first !== 'object')
        return undefined;
    const start = first.start;
    if (start === null || typeof start !== 'object')
        return undefined;
    const line = start.line;
    return typeof line === 'number' ? line : undefined;
}
/** The findings that stop the build under `failOn`. */
function blocking(findings, failOn) {
    return findings.filter((f) => RANK[f.level] >= THRESHOLD[failOn]);
}
function formatFinding(f) {
    return `lint ${f.level}: ${f.rule}: ${f.message}${f.where ? ` (${f.where})` : ''}`;
}

;// CONCATENATED MODULE: ./cli/src/build.ts
// `depot build`: docker buildx build with the user's flags unchanged, plus the project cache, --save, --lint,
// --build-platform, --sbom-dir and depot.build in the metadata file. Exit status: buildx's.













const BUILD_HELP = `Usage: depot build [OPTIONS] CONTEXT

Build an image with docker buildx and the project's cache. Every \`docker buildx build\` flag works unchanged.

depot options:
      --project ID          project id (default: DEPOT_PROJECT_ID, depot.json, the token's project)
      --token TOKEN         project token (default: DEPOT_TOKEN)
      --save                push the result to the project's saved builds (for depot pull / depot push)
      --save-tag TAG        also save under TAG (repeatable)
      --build-platform P    where to build each platform: dynamic, linux/amd64 or linux/arm64
      --cache-key KEY       the project cache to read and write (default: the --target, else "default"); give
                            each image of a monorepo its own. Characters other than letters, digits, "_", "."
                            and "-" become "-"; at most 128 are kept
      --lint                run buildx's build checks before the build
      --lint-fail-on L      error (default), warn, info or none: which findings stop the build
      --sbom-dir DIR        write each platform's SBOM to DIR
      --debug               print the commands depot runs (secrets redacted)
  -h, --help                this help

${BUILDX_ENV_HELP}`;
/** Flags that describe where the result goes; a second, save-only pass leaves them out. */
const OUTPUT_FLAGS = new Set([
    'tag',
    'output',
    'push',
    'load',
    'metadata-file',
    'iidfile',
    'cache-to',
    'call',
    'check',
]);
/** The buildx argv for one build: pure, so the flags it produces are unit-tested. */
function planBuild(opts) {
    const { flags, depot, context, session } = opts;
    const key = cacheKey(values(flags, 'target').at(-1), depot.cacheKey);
    const cache = cacheFlags(session.token, key, opts.cacheExport ?? true);
    const extra = [];
    if (cache.cacheFrom)
        extra.push('--cache-from', cache.cacheFrom);
    if (cache.cacheTo)
        extra.push('--cache-to', cache.cacheTo);
    if (depot.sbomDir && !has(flags, 'sbom') && !values(flags, 'attest').some((a) => /type=sbom/.test(a))) {
        extra.push('--sbom=true');
    }
    const userMetadata = has(flags, 'metadata-file');
    if (!userMetadata)
        extra.push('--metadata-file', opts.metadataFile);
    const plan = {
        args: ['buildx', 'build', ...toWords(flags), ...extra, context],
        metadataFile: opts.metadataFile,
    };
    if (depot.save) {
        const repo = session.savedRepository();
        const names = [`${repo}:${session.buildID}`, ...depot.saveTags.map((t) => `${repo}:${t}`)].join(',');
        const output = `type=image,"name=${names}",push=true`;
        const routed = ['tag', 'output', 'push', 'load'].some((f) => has(flags, f));
        if (!routed)
            plan.args.splice(plan.args.length - 1, 0, '--output', output);
        else {
            const kept = flags.filter((f) => !OUTPUT_FLAGS.has(f.name));
            const from = cache.cacheFrom ? ['--cache-from', cache.cacheFrom] : [];
            plan.savePass = ['buildx', 'build', ...toWords(kept), ...from, '--output', output, context];
        }
    }
    return plan;
}
async function build(argv, env) {
    const { depot, buildx: flags, positional } = parseArgs('build', argv);
    setDebug(depot.debug);
    if (depot.help) {
        process.stdout.write(BUILD_HELP);
        return 0;
    }
    if (positional.length !== 1) {
        throw new UserError(positional.length === 0
            ? 'depot build needs a build context, e.g. `depot build .`.'
            : `depot build takes one build context, got ${positional.length}: ${positional.join(' ')}.`);
    }
    const context = positional[0];
    const local = !/^[a-z]+:\/\//i.test(context) && !context.startsWith('git@') && context !== '-';
    const session = await traced('session', () => Session.open({
        env,
        probe: true,
        ...(depot.token !== undefined ? { tokenFlag: depot.token } : {}),
        ...(depot.project !== undefined ? { projectFlag: depot.project } : {}),
        ...(local ? { searchFrom: (0,external_node_path_namespaceObject.resolve)(context) } : {}),
    }));
    if (depot.save)
        session.requireSave();
    const features = depot.lint ? [{ name: '--lint', since: '0.15.0' }] : [];
    const gated = flags.some((f) => ['annotation', 'attest', 'build-context', 'call', 'check', 'provenance', 'sbom'].includes(f.name));
    if (gated || features.length > 0)
        checkFlagVersions('build', await session.buildxVersion(), flags, features);
    if (session.token)
        log.info(describeCache(session.token));
    else
        log.warn(session.note ?? describeCache(undefined));
    log.info(`build ID ${session.buildID}${session.project ? `, project ${session.project}` : ''}`);
    if (depot.buildPlatform)
        buildPlatformNote(depot.buildPlatform);
    // Asked once per CI job (builder-probe.ts), only when this build would write the project cache.
    const cacheExport = writesCache(session.token)
        ? await traced('builder probe', () => cacheExportAllowed(session.env, values(flags, 'builder').at(-1)))
        : true;
    if (depot.lint) {
        const stop = await lint(flags, context, session, depot);
        if (stop !== 0)
            return stop;
    }
    const tmp = (0,external_node_fs_namespaceObject.mkdtempSync)((0,external_node_path_namespaceObject.join)(env.RUNNER_TEMP || (0,external_node_os_namespaceObject.tmpdir)(), 'depot-build-'));
    onCleanup(() => (0,external_node_fs_namespaceObject.rmSync)(tmp, { recursive: true, force: true }));
    const metadataFile = values(flags, 'metadata-file').at(-1) ?? (0,external_node_path_namespaceObject.join)(tmp, 'metadata.json');
    const plan = planBuild({ flags, depot, context, session, metadataFile, cacheExport });
    const res = await traced('buildx build', () => run('docker', plan.args, { env: session.env, stdin: context === '-' }));
    // A failed build still names its build id and project in the metadata file, for the action's outputs.
    if (res.exitCode !== 0) {
        session.addBuildInfo(plan.metadataFile);
        return res.exitCode;
    }
    if (plan.savePass) {
        log.info(`saving the build to ${session.savedRepository()}:${session.buildID}`);
        const saved = await run('docker', plan.savePass, { env: session.env });
        if (saved.exitCode !== 0) {
            log.error(`the build succeeded but saving it to ${session.savedRepository()} failed (exit ${saved.exitCode}).`);
            session.addBuildInfo(plan.metadataFile);
            return saved.exitCode;
        }
    }
    session.addBuildInfo(plan.metadataFile);
    if (depot.save)
        log.info(`saved as ${session.savedRepository()}:${session.buildID}`);
    if (depot.sbomDir)
        await writeSboms(depot.sbomDir, flags, depot, session);
    return 0;
}
function buildPlatformNote(p) {
    log.info(`--build-platform ${p}: this builder is a single local BuildKit, so every platform is built on this machine (${process.arch}; others under QEMU emulation).`);
}
async function lint(flags, context, session, depot) {
    const kept = flags.filter((f) => !OUTPUT_FLAGS.has(f.name) && f.name !== 'cache-from' && f.name !== 'progress');
    const file = values(flags, 'file').at(-1) ?? 'Dockerfile';
    const res = await run('docker', ['buildx', 'build', ...toWords(kept), '--progress', 'quiet', '--call', 'check,format=json', context], {
        env: session.env,
        capture: true,
    });
    const findings = parseCheckOutput(res.stdout, res.exitCode, file);
    for (const f of findings)
        log.info(formatFinding(f));
    const stops = blocking(findings, depot.lintFailOn);
    if (findings.length === 0)
        log.info('lint: no findings');
    if (stops.length > 0) {
        log.error(`lint found ${stops.length} finding(s) at or above --lint-fail-on ${depot.lintFailOn}: fix them, or set --lint-fail-on to a higher level.`);
        return 1;
    }
    return 0;
}
/** Each platform's SBOM, read back from the pushed or saved image with imagetools. */
async function writeSboms(dir, flags, depot, session) {
    const ref = depot.save
        ? `${session.savedRepository()}:${session.buildID}`
        : has(flags, 'push')
            ? values(flags, 'tag')[0]
            : undefined;
    if (!ref) {
        log.warn('--sbom-dir needs an image in a registry (--push with a tag, or --save): no SBOM was written.');
        return;
    }
    const res = await run('docker', ['buildx', 'imagetools', 'inspect', ref, '--format', '{{ json .SBOM }}'], {
        env: session.env,
        capture: true,
    });
    if (res.exitCode !== 0) {
        log.warn(`could not read the SBOM of ${ref} (exit ${res.exitCode}): no SBOM was written.`);
        return;
    }
    (0,external_node_fs_namespaceObject.mkdirSync)(dir, { recursive: true });
    let json;
    try {
        json = JSON.parse(res.stdout);
    }
    catch {
        log.warn(`the SBOM of ${ref} is not JSON: no SBOM was written.`);
        return;
    }
    const perPlatform = json !== null && typeof json === 'object' && !('SPDX' in json) ? Object.entries(json) : [['sbom', json]];
    for (const [platform, sbom] of perPlatform) {
        const name = `${platform.replace(/\//g, '-')}.spdx.json`;
        (0,external_node_fs_namespaceObject.writeFileSync)((0,external_node_path_namespaceObject.join)(dir, name), `${JSON.stringify(sbom, null, 2)}\n`);
        log.info(`SBOM written to ${(0,external_node_path_namespaceObject.join)(dir, name)}`);
    }
}

// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __nccwpck_require__(7975);
;// CONCATENATED MODULE: ./shared/args.ts
// The flags of the small commands (depot pull, push, init, configure-docker, version; the broker's commands) through
// node:util parseArgs, strictly. A bad command line is one UserError line naming the flag and where the help is,
// never parseArgs' own TypeError text: "unknown flag --x for depot init (see depot init --help)".


function parseFlags(argv, spec) {
    const see = `(see ${spec.help ?? `${spec.command} --help`})`;
    const max = spec.positionals ?? 0;
    // A lenient pass first, for tokens to check one by one; then the strict parse, which can no longer fail.
    const { tokens } = (0,external_node_util_.parseArgs)({
        args: [...argv],
        options: spec.options,
        strict: false,
        allowPositionals: true,
        tokens: true,
    });
    let positionals = 0;
    for (const t of tokens) {
        if (t.kind === 'positional' && ++positionals > max) {
            throw new UserError(max === 0
                ? `${spec.command} takes no arguments, got "${t.value}" ${see}`
                : `${spec.command} takes at most ${max} argument(s), got "${t.value}" too ${see}`);
        }
        if (t.kind !== 'option')
            continue;
        const option = Object.hasOwn(spec.options, t.name) ? spec.options[t.name] : undefined;
        if (!option)
            throw new UserError(`unknown flag ${t.rawName} for ${spec.command} ${see}`);
        if (option.type === 'boolean' && t.value !== undefined) {
            throw new UserError(`${t.rawName} takes no value for ${spec.command} ${see}`);
        }
        // `--project --debug` is a missing value (as strict parseArgs has it), not a project named --debug.
        const missing = t.value === undefined || t.value === '' || (!t.inlineValue && /^-./.test(t.value));
        if (option.type === 'string' && missing) {
            throw new UserError(`${t.rawName} needs a value for ${spec.command} ${see}`);
        }
    }
    try {
        return (0,external_node_util_.parseArgs)({ args: [...argv], options: spec.options, strict: true, allowPositionals: true });
    }
    catch (err) {
        const code = err !== null && typeof err === 'object' && 'code' in err ? String(err.code) : 'error';
        throw new UserError(`cannot read the arguments of ${spec.command} (${code}) ${see}`);
    }
}

;// CONCATENATED MODULE: ./cli/src/configure-docker.ts
// `depot configure-docker`: makes `docker build` and `docker buildx build` go through depot, by putting a
// docker-buildx shim first in the user's cli-plugins. The real plugin's path is recorded first; depot always runs
// that recorded binary (the temporary DOCKER_CONFIG of every build lists it instead of the shim), and an env guard
// turns any re-entry into a clear error instead of a loop. `--uninstall` puts everything back.






const CONFIGURE_HELP = `Usage: depot configure-docker [--uninstall]

Route \`docker build\` and \`docker buildx build\` (and bake) through depot by installing a docker-buildx shim
into your Docker config's cli-plugins. Other buildx commands still reach the real buildx. The shim refuses to run
inside a depot build (depot sets DEPOT_INSIDE_BUILD in buildx's environment): a loop is an error, not a hang.

Options:
      --uninstall   remove the shim and restore the real buildx plugin
  -h, --help        this help

Environment:
  DOCKER_CONFIG     your Docker config folder, where the shim goes (default: $HOME/.docker)
  HOME              your home folder, when DOCKER_CONFIG is not set
`;
const CONFIGURE_FLAGS = {
    uninstall: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
};
const MARKER = '# depot configure-docker shim';
const SYSTEM_PLUGIN_DIRS = [
    '/usr/local/lib/docker/cli-plugins',
    '/usr/local/libexec/docker/cli-plugins',
    '/usr/lib/docker/cli-plugins',
    '/usr/libexec/docker/cli-plugins',
];
function isShim(file) {
    try {
        return (0,external_node_fs_namespaceObject.lstatSync)(file).isFile() && (0,external_node_fs_namespaceObject.readFileSync)(file, 'utf8').includes(MARKER);
    }
    catch {
        return false;
    }
}
function shell(s) {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}
function shimScript(node, script) {
    return `#!/bin/sh\n${MARKER}: \`depot configure-docker --uninstall\` removes it.\nexec ${shell(node)} ${shell(script)} __buildx-shim "$@"\n`;
}
function configureDocker(argv, env) {
    const { values } = parseFlags(argv, { command: 'depot configure-docker', options: CONFIGURE_FLAGS });
    if (values.help) {
        process.stdout.write(CONFIGURE_HELP);
        return 0;
    }
    const dir = userConfigDir(env);
    const plugins = (0,external_node_path_namespaceObject.join)(dir, 'cli-plugins');
    const target = (0,external_node_path_namespaceObject.join)(plugins, 'docker-buildx');
    const stateFile = (0,external_node_path_namespaceObject.join)(dir, SHIM_STATE);
    const state = readShimState(dir);
    if (values.uninstall) {
        if (!state) {
            log.info(`depot is not configured in ${dir}: nothing to undo.`);
            return 0;
        }
        if (isShim(target))
            (0,external_node_fs_namespaceObject.rmSync)(target);
        const saved = (0,external_node_path_namespaceObject.join)(dir, 'depot-buildx-original');
        if ((0,external_node_fs_namespaceObject.existsSync)(saved))
            (0,external_node_fs_namespaceObject.renameSync)(saved, target);
        (0,external_node_fs_namespaceObject.rmSync)(stateFile);
        log.info(`removed depot's docker-buildx shim from ${plugins}: docker build uses ${(0,external_node_fs_namespaceObject.existsSync)(target) ? target : state.buildx} again.`);
        return 0;
    }
    let real = state?.buildx;
    if (!real) {
        if ((0,external_node_fs_namespaceObject.existsSync)(target) && !isShim(target)) {
            // The user's own plugin: keep it, out of docker's sight, and run it from there.
            real = (0,external_node_path_namespaceObject.join)(dir, 'depot-buildx-original');
            (0,external_node_fs_namespaceObject.renameSync)(target, real);
        }
        else {
            real = SYSTEM_PLUGIN_DIRS.map((d) => (0,external_node_path_namespaceObject.join)(d, 'docker-buildx')).find((f) => (0,external_node_fs_namespaceObject.existsSync)(f));
        }
        if (!real) {
            throw new UserError('No docker buildx plugin was found: install buildx first (depot runs builds through it).');
        }
    }
    (0,external_node_fs_namespaceObject.mkdirSync)(plugins, { recursive: true });
    const script = (0,external_node_path_namespaceObject.resolve)(process.argv[1] ?? '');
    (0,external_node_fs_namespaceObject.writeFileSync)(target, shimScript(process.execPath, script));
    (0,external_node_fs_namespaceObject.chmodSync)(target, 0o755);
    const next = { buildx: real };
    (0,external_node_fs_namespaceObject.writeFileSync)(stateFile, `${JSON.stringify(next, null, 2)}\n`);
    log.info(`installed depot's docker-buildx shim in ${plugins} (real buildx: ${real}): docker build and docker buildx build now run through depot.`);
    return 0;
}

;// CONCATENATED MODULE: ./cli/src/init.ts
// `depot init [--project ID]`: writes depot.json ({"id": ...}) in the current folder, which builds under it find.







const INIT_HELP = `Usage: depot init [--project ID]

Write depot.json in the current folder so builds under it use project ID.

Options:
      --project ID      the project (default: DEPOT_PROJECT_ID, else the project of DEPOT_TOKEN)
  -h, --help            this help

Environment:
  DEPOT_PROJECT_ID      the project, when --project is not given
  DEPOT_TOKEN           a project token: its project, when neither --project nor DEPOT_PROJECT_ID is given
`;
const INIT_FLAGS = {
    project: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
};
function init(argv, env, cwd = process.cwd()) {
    const { values } = parseFlags(argv, { command: 'depot init', options: INIT_FLAGS });
    if (values.help) {
        process.stdout.write(INIT_HELP);
        return 0;
    }
    const fromToken = () => (env.DEPOT_TOKEN ? token_readProjectToken(env.DEPOT_TOKEN).project : undefined);
    const project = values.project ?? (env.DEPOT_PROJECT_ID || fromToken());
    if (!project)
        throw new UserError('depot init needs a project: pass --project ID (or set DEPOT_PROJECT_ID).');
    if (!PROJECT_ID.test(project)) {
        throw new UserError(`"${project}" is not a valid project id: use lowercase letters, digits and . _ -.`);
    }
    const file = (0,external_node_path_namespaceObject.join)(cwd, 'depot.json');
    (0,external_node_fs_namespaceObject.writeFileSync)(file, `${JSON.stringify({ id: project }, null, 2)}\n`);
    log.info(`wrote ${file} (project ${project})`);
    return 0;
}

;// CONCATENATED MODULE: ./cli/src/saved.ts
// Build once, deploy later: `depot pull` loads a saved build into the local image store, `depot push` copies it
// (every platform, with its attestations) to another registry through `docker buildx imagetools create`, whose
// credentials for the target are the user's own. BUILD_ID is the id, or the JSON object of metadata's depot.build.






const PULL_HELP = `Usage: depot pull [OPTIONS] BUILD_ID

Load a saved build (depot build --save) into the local image store.
BUILD_ID is the build id, or the JSON object the metadata file holds under depot.build.

Options:
      --project ID      project id (default: from BUILD_ID's JSON, DEPOT_PROJECT_ID, depot.json, the token)
      --token TOKEN     project token (default: DEPOT_TOKEN)
      --platform P      the platform to load (default: this machine's)
      --target T        for a bake build: the target to load
  -t, --tag TAG         also tag the image as TAG (repeatable)
      --debug           print the commands depot runs
  -h, --help            this help

Environment:
  DEPOT_TOKEN           the project token (when --token is not given)
  DEPOT_PROJECT_ID      the project (when --project and BUILD_ID's JSON give none)
${ciTokenEnvHelp(24)}  DOCKER_CONFIG         your Docker config folder (default: $HOME/.docker), copied into a temporary one for docker
  RUNNER_TEMP           where that temporary Docker config goes (default: the system's temp folder)
`;
const PUSH_HELP = `Usage: depot push [OPTIONS] -t TAG [-t TAG...] BUILD_ID

Copy a saved build, every platform and its attestations, to another registry without rebuilding.

Options:
      --project ID      project id (default: from BUILD_ID's JSON, DEPOT_PROJECT_ID, depot.json, the token)
      --token TOKEN     project token (default: DEPOT_TOKEN)
      --target T        for a bake build: the target to push
  -t, --tag TAG         where to push (repeatable; required)
      --debug           print the commands depot runs
  -h, --help            this help

Environment:
  DEPOT_TOKEN           the project token (when --token is not given)
  DEPOT_PROJECT_ID      the project (when --project and BUILD_ID's JSON give none)
${ciTokenEnvHelp(24)}  DOCKER_CONFIG         your Docker config folder (default: $HOME/.docker), copied into a temporary one for docker;
                        its credentials for the target registry are the ones used
  RUNNER_TEMP           where that temporary Docker config goes (default: the system's temp folder)
`;
function parseBuildRef(word) {
    const text = word.trim();
    if (text.startsWith('{')) {
        let json;
        try {
            json = JSON.parse(text);
        }
        catch {
            throw new UserError('BUILD_ID looks like JSON but is not valid JSON: pass the build id or the depot.build object.');
        }
        const rec = json !== null && typeof json === 'object' ? json : {};
        if (typeof rec.buildID !== 'string' || rec.buildID === '') {
            throw new UserError('BUILD_ID JSON has no "buildID": pass the metadata file\'s depot.build object.');
        }
        const ref = { buildID: rec.buildID };
        if (typeof rec.projectID === 'string' && rec.projectID !== '')
            ref.projectID = rec.projectID;
        return checkId(ref);
    }
    return checkId({ buildID: text });
}
function checkId(ref) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(ref.buildID)) {
        throw new UserError(`"${ref.buildID}" is not a build id: pass the id depot build printed, or its depot.build JSON.`);
    }
    return ref;
}
const SAVED_FLAGS = {
    project: { type: 'string' },
    token: { type: 'string' },
    target: { type: 'string' },
    tag: { type: 'string', short: 't', multiple: true },
    debug: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
};
const PULL_FLAGS = { ...SAVED_FLAGS, platform: { type: 'string' } };
function parseSavedArgs(command, argv) {
    // BUILD_ID is checked after --help, with a message of its own.
    const spec = { command: `depot ${command}`, positionals: Infinity };
    const parsed = command === 'pull'
        ? parseFlags(argv, { ...spec, options: PULL_FLAGS })
        : parseFlags(argv, { ...spec, options: SAVED_FLAGS });
    const v = parsed.values;
    return {
        project: v.project,
        token: v.token,
        platform: v.platform,
        target: v.target,
        tags: v.tag ?? [],
        debug: v.debug ?? false,
        help: v.help ?? false,
        positional: parsed.positionals,
    };
}
async function saved_open(command, argv, env) {
    const a = parseSavedArgs(command, argv);
    setDebug(a.debug);
    if (a.help)
        return { a, help: true };
    if (a.positional.length !== 1) {
        throw new UserError(`depot ${command} takes one BUILD_ID (the id depot build printed, or its depot.build JSON).`);
    }
    const ref = parseBuildRef(a.positional[0]);
    const project = a.project ?? ref.projectID;
    const session = await Session.open({
        env,
        ...(a.token !== undefined ? { tokenFlag: a.token } : {}),
        ...(project !== undefined ? { projectFlag: project } : {}),
        searchFrom: process.cwd(),
    });
    if (!session.token)
        throw new UserError(`depot ${command} needs a project token: set DEPOT_TOKEN (or --token).`);
    if (session.token.isolated)
        throw new UserError('An isolated project token cannot read saved builds.');
    const tag = a.target ? `${ref.buildID}-${a.target}` : ref.buildID;
    return { a, help: false, session, image: `${session.savedRepository()}:${tag}` };
}
async function pull(argv, env) {
    const o = await saved_open('pull', argv, env);
    if (o.help) {
        process.stdout.write(PULL_HELP);
        return 0;
    }
    const { a, session, image } = o;
    const res = await run('docker', ['pull', ...(a.platform ? ['--platform', a.platform] : []), image], {
        env: session.env,
    });
    if (res.exitCode !== 0)
        return res.exitCode;
    for (const tag of a.tags) {
        const t = await run('docker', ['tag', image, tag], { env: session.env });
        if (t.exitCode !== 0)
            return t.exitCode;
        log.info(`tagged ${tag}`);
    }
    return 0;
}
async function push(argv, env) {
    const o = await saved_open('push', argv, env);
    if (o.help) {
        process.stdout.write(PUSH_HELP);
        return 0;
    }
    const { a, session, image } = o;
    if (a.tags.length === 0)
        throw new UserError('depot push needs at least one -t TAG: where to push the build.');
    // imagetools create is idempotent; buildx 0.29 sometimes sends a manifest body that does not match its digest
    // when several manifests go up at once (the registry answers 400 "digest invalid"), so a failed copy is tried
    // again, up to 3 times in all.
    const args = ['buildx', 'imagetools', 'create', ...a.tags.flatMap((t) => ['-t', t]), image];
    let res = await run('docker', args, { env: session.env });
    for (let attempt = 2; res.exitCode !== 0 && attempt <= 3 && !wasInterrupted(); attempt++) {
        log.warn(`copying ${image} failed (exit ${res.exitCode}): trying again (attempt ${attempt} of 3)`);
        res = await run('docker', args, { env: session.env });
    }
    if (res.exitCode === 0)
        log.info(`pushed ${image} to ${a.tags.join(', ')}`);
    return res.exitCode;
}

;// CONCATENATED MODULE: ./package.json
const package_namespaceObject = {"rE":"0.1.0"};
;// CONCATENATED MODULE: ./cli/src/version.ts
// The CLI's version: the repository's package.json version, inlined into the bundle at build time.


const VERSION = package_namespaceObject.rE;
const VERSION_HELP = `Usage: depot version

Print depot's version (\`depot --version\` does the same).

Options:
  -h, --help        this help
`;
function version(argv) {
    const { values } = parseFlags(argv, {
        command: 'depot version',
        options: { help: { type: 'boolean', short: 'h' } },
    });
    process.stdout.write(values.help ? VERSION_HELP : `depot ${VERSION}\n`);
    return 0;
}

;// CONCATENATED MODULE: ./cli/src/depot.ts
// The `depot` command: build, bake, pull, push, version, init, configure-docker, and the docker-buildx shim's entry.
// Dispatch only: main.ts runs it, turns a thrown UserError into its one line and exit status.










const HELP = `Usage: depot COMMAND [OPTIONS]

Fast, cached container builds through docker buildx with a per-project cache.

Commands:
  build             build an image (a drop-in for docker buildx build)
  bake              build bake targets (a drop-in for docker buildx bake)
  pull              load a saved build into the local image store
  push              copy a saved build to another registry
  init              write depot.json for this folder's project
  configure-docker  route docker build / docker buildx build through depot (--uninstall undoes it)
  version           print the version

Options:
  -h, --help        this help
      --version     print the version

Environment:
  DEPOT_TOKEN       the project token (build, bake, pull, push, init)
  DEPOT_PROJECT_ID  the project (build, bake, pull, push, init)
  DEPOT_BROKER_URL, DEPOT_OIDC_AUDIENCE, DEPOT_OIDC_TOKEN, DEPOT_BUILDKITE_CLAIMS, DEPOT_CACHE_DIR
                    a CI job's project token from its OIDC token (build, bake, pull, push; see their --help)
  DOCKER_CONFIG     your Docker config folder (default: $HOME/.docker)
  RUNNER_TEMP       where temporary files go (default: the system's temp folder)
Other variables (BUILDX_BUILDER, BUILDKIT_PROGRESS, ...) reach docker buildx unchanged.

Run \`depot COMMAND --help\` for a command's options.
`;
/** docker-buildx shim entry: docker runs `docker-buildx buildx <subcommand> ...` (or the metadata query). */
async function shim(argv, env) {
    const state = readShimState(userConfigDir(env));
    if (!state)
        throw new UserError('depot configure-docker state is missing: run `depot configure-docker` again.');
    const passThrough = async () => {
        const notFound = `the buildx plugin depot configure-docker recorded, ${state.buildx}, is gone: run \`depot configure-docker\` again.`;
        return (await run(state.buildx, argv, { env, stdin: true, notFound })).exitCode;
    };
    if (argv[0] === 'docker-cli-plugin-metadata')
        return passThrough();
    if (env[SHIM_GUARD]) {
        throw new UserError("depot's docker-buildx shim was reached from inside a depot build (a loop): run `depot configure-docker --uninstall` and install again.");
    }
    const rest = argv[0] === 'buildx' ? argv.slice(1) : argv;
    const sub = rest[0];
    if (sub === 'build' || sub === 'b')
        return build(rest.slice(1), env);
    if (sub === 'bake')
        return bake(rest.slice(1), env);
    return passThrough();
}
async function depot(argv, env) {
    const [command, ...rest] = argv;
    switch (command) {
        case 'build':
            return build(rest, env);
        case 'bake':
            return bake(rest, env);
        case 'pull':
            return pull(rest, env);
        case 'push':
            return push(rest, env);
        case 'init':
            return init(rest, env);
        case 'configure-docker':
            return configureDocker(rest, env);
        case 'version':
            return version(rest);
        case '--version':
            return version([]);
        case '__buildx-shim':
            return shim(rest, env);
        case undefined:
        case 'help':
        case '--help':
        case '-h':
            process.stdout.write(HELP);
            return command === undefined ? 1 : 0;
        default:
            throw new UserError(`Unknown command "${command}": run \`depot --help\` for the list.`);
    }
}

;// CONCATENATED MODULE: ./cli/src/main.ts
// The `depot` executable. Every failure ends with one plain line on stderr (never a stack trace, never a secret)
// and the exit status: buildx's, 69 when the cache registry or the broker could not be reached before the build,
// 1 for a user error, 128 + N when stopped by signal N. Cleanups (temporary Docker configs) run however it ends.





traceProc(`cli ${process.argv[2] ?? ''}`.trim());
traceStartup();
installSignalHandlers();
depot(process.argv.slice(2), process.env).then((code) => {
    runCleanups();
    process.exitCode = code;
}, (err) => {
    runCleanups();
    if (err instanceof UserError) {
        log.error(err.message);
        process.exitCode = err.exitCode;
    }
    else {
        log.error(`unexpected failure: ${errorMessage(err).split('\n')[0] ?? ''}`);
        process.exitCode = 1;
    }
});

