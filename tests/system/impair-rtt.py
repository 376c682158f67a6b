#!/usr/bin/env python3
"""Delay and jitter of an impaired link from ping RTT percentiles (tests/system/impair.sh).

  impair-rtt.py BARE DELAYED      prints: DELAY JITTER SPREAD (ms)

BARE holds the RTTs of a bare path and DELAYED those of the impaired one, one per line, pinged
at the same time so that both met the same host load. An RTT through the impaired link is
modelled as  delay + jitter * U(-1, 1) + N,  where N is what the bare path adds (switch,
guests' stacks, a busy host's scheduling) and is taken to be distributed as the bare RTTs.
Subtracting medians or spreads alone would count N's tail (a few ms on a loaded host) as
jitter; instead the jitter is the half-width whose uniform, convolved with the measured bare
RTTs, has the measured 10th-90th percentile spread, and the delay is the shift that then
matches the median. SPREAD is the raw p90 - p10 of DELAYED, for the record."""
import sys

GRID = 201      # points of U(-1, 1)
LO, HI = 0.10, 0.90


def quantile(sorted_values, p):
    return sorted_values[int(p * (len(sorted_values) - 1))]


def convolved(bare, width):
    """Sorted samples of width * U(-1, 1) + N."""
    out = [width * (2.0 * k / (GRID - 1) - 1.0) + n for k in range(GRID) for n in bare]
    out.sort()
    return out


def main():
    bare = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
    delayed = sorted(float(x) for x in open(sys.argv[2]) if x.strip())
    if len(bare) < 50 or len(delayed) < 50:
        sys.exit("impair-rtt.py: too few RTTs (%d bare, %d delayed)" % (len(bare), len(delayed)))
    # Thin the bare samples: the convolution is GRID x len(bare) points.
    step = max(1, len(bare) // 300)
    bare = bare[::step]
    spread = quantile(delayed, HI) - quantile(delayed, LO)
    lo, hi = 0.0, spread      # the half-width's spread is 0.8 x 2 x width: width < spread
    for _ in range(30):       # spread of the model grows with the width: bisect
        mid = (lo + hi) / 2
        c = convolved(bare, mid)
        if quantile(c, HI) - quantile(c, LO) < spread:
            lo = mid
        else:
            hi = mid
    width = (lo + hi) / 2
    delay = quantile(delayed, 0.5) - quantile(convolved(bare, width), 0.5)
    print("%.3f %.3f %.3f" % (delay, width, spread))


if __name__ == "__main__":
    main()
