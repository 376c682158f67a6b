#!/usr/bin/env bash
# FTC's cost in one run (issue 14's bench): for Monitor chains of LENGTHS (default 2 3 4 5),
# FTC f=1 beside none (the paper's NF) and ftmb (FTMB with its simulated snapshots):
#  - throughput: the goodput (mean rx_pps at the server) of a 256-byte UDP stream offered at
#    RATE datagrams/s for DURATION (default 16000 with VNF_CPUS: about 1.35x none's goodput
#    under 0.04 cores per middlebox, so every scheme is saturated at every length while CPU 0's
#    client, classifier and SFF stay near half busy; without VNF_CPUS, 0: flat out);
#  - latency: p50 round trip of 256-byte echo requests through the same chains, in a phase of
#    its own after each length's throughput runs (below: "Latency");
# and the ratios FTC/none and FTC/ftmb per length, the drop of FTC's throughput from the
# shortest to the longest chain beside none's (what the setup itself costs a longer chain, which
# FTC's drop is judged against), and FTC's added p50 per middlebox beyond none. Numbers from
# the stored summaries and the client's own report; root only. The paper's targets: FTC within
# 10% of none, dropping under 3% from length 2 to 5, at least 2x ftmb at length 5.
# REPS (default 1): throughput runs per point, the schemes alternating within each repetition
# (so that a change in the machine's load falls on all of them); the median is reported, with
# the per-repetition ratios FTC/none and the range (min-max) of FTC/none and FTC/ftmb over the
# repetitions, each ratio from runs a minute apart. INST: the instance's name (default
# sfct-bftc-PID). SCHEMES (default "none ftc ftmb"): the schemes to run.
# SFF_WINDOW: the sff_window parameter of all three schemes (the SFF's admission: frames in the
# chain; 0: off). Default 0 with VNF_CPUS, else the schemes' 256. Under the quotas the window
# made none itself drop with length (session 14, 0.04 cores, 16,000/s offered, medians of all
# runs: 11.9% from length 2 to 5 with it, 6 runs a length; 3.1% without, 15; 5,259/s at length 5
# at load 6): its slots expire after 20 ms, a middlebox throttled for up to 96 ms of each 100 ms
# period holds admitted frames longer, and admission becomes about 256 frames per sojourn
# through the chain, which grows with its length. Without it the excess waits, and is dropped,
# in the first middlebox's receive queue (8 MiB, thousands of frames: a period's burst fits)
# before any middlebox worked on it, as at the paper's first server's NIC; in 1 of 15 runs of
# none a later middlebox's queue overflowed too (v1 at its quota at half the usual goodput: the
# quota also pays for kernel work done in its time). FTC's forwarder sheds at its own window
# (vnfs/sfc/vnf_ftc.c) out of its own quota (ends: own), as the paper's forwarder on its own
# core would. Its window counts a packet lost only after 1 s: counted lost after 32 ms (a
# throttled guest holds packets for up to 96 ms of each period), ~25k a run reopened it, and at
# length 5 the middle guests' queues overflowed (1.4k-17k drops a run, and repairs; session 15).
# The window is 512 packets per VNF after the first, at least 1024 (session 17): a flat 1024
# starved length 5 in 2 of 13 runs (its middle guests, stopped at their quota for most of each
# period, hold packets while the one before works; the window filled while they were idle:
# ~5,000/s), 2048 in none of 8 (the median within the noise of 1024's other runs).
# CPUS (default 1): every guest's CPU quota (resources.cpus, a cgroup cpu.max, fractional
# allowed). With VNF_CPUS empty, this leaves the host's two cores shared by all: a VNF stalled
# by ftmb's snapshot gives its CPU to the others, and the paper's compounding of stalls across a
# chain (one server per middlebox, each stall stopping a full pipeline) cannot appear.
# VNF_CPUS (default 0.04; empty: every guest on CPUS, the shared host above): the paper's setup,
# one server per middlebox: a quota for each middlebox's own guests only (resources.vnf.cpus:
# every VNF's, and each in-line ftmb logger's, the paper's second server per FTMB middlebox),
# the SFF, classifier, client and server keeping CPUS (the paper's switch and traffic machines,
# not its bottleneck). A stalled VNF's share then stays unused, as its own server's would. Set
# it low enough that the middleboxes, not the host, are the bottleneck (each run's
# per-component CPU is printed: a middlebox at its quota is one; e.g. 0.04 on two cores). What
# it shows: each scheme's throughput is then its costliest middlebox's. PERIOD (default empty:
# the kernel's 100 ms): the quotas' CFS period (resources.period, every guest's; a quota of 0.04
# cores allows 25ms at the shortest, the kernel's least quota being 1 ms). A middlebox at its
# quota is stopped for the rest of each period: up to 96 ms of 100. That costs none nothing
# measurable, but FTC's forwarder window (then 256 packets on the way to the buffer; 1024 in
# sessions 15-16) fills while the buffer's guest is stopped, and the forwarder spent its quota
# shedding: by hand, 1 ms per 25 ms gave FTC at length 2 a median 23% more (8,911 -> 10,960/s, 5
# runs a side, window off; 5% at length 5, within the noise) and none the same (session 14). So
# under 100 ms FTC's length-2 goodput, and its drop to length 5, might be understated. Session
# 16 measured it (PERIOD 25ms vs empty, REPS=2 twice a side, alternated, medians of 4 runs):
# ends own, FTC 11,200 vs 12,278/s at length 2 and 8,516 vs 7,967/s at length 5, none 11,389 vs
# 11,436 and 9,842 vs 9,835, FTC's drop 24% vs 35% (per run 14-54% vs 25-72%): within the noise;
# ends shared, FTC at length 5 2,254 vs 3,502/s (worse), its stall (the last guest, the buffer's,
# at its quota in 91-98% of periods, ~2,500-3,000 packets still held at the end) with either
# period. So the period explains neither FTC's drop nor the stall; the default stays 100 ms.
# Nor do the repairs (session 17): with ends shared the guest before the last read 127k-416k
# retained logs a run answering the last one's retransmission requests (its whole retention per
# request); now 1-2.5k, about what it sends; FTC's goodput within the noise (ftc/none median
# 0.49 of 8 runs before, 0.36-0.59; 0.53 of 5 after, 0.44-0.58), the last guest (the buffer and
# a tail) still at its quota in 80-95% of periods, the middles idle.
# FTC's forwarder and buffer, which the paper runs on cores of their own on the first and the last
# middlebox's servers, get a middlebox's quota of their own on those guests (FTC_ENDS, default own:
# ftc's ends parameter; shared: they run within their middlebox's quota, as before), as ftmb's
# in-line logger gets a guest of its own. Since session 22 that quota is their thread's (the guest's
# cpu group split in two, the middlebox's threads at the other half; before, the middlebox used what
# its end left: at length 2, where both VNFs are ends, FTC had 1.36x none's goodput, 14,953 vs
# 11,005/s): the throttled periods printed for v0 and the last VNF are each half's (v0/own: the
# end's thread, v0/rest: the middlebox's). Then the buffer's thread is FTC's bottleneck at every
# length (throttled in 55-60 of ~60 periods, its middlebox's half in 0-1; it takes ~1 commit message
# on the link a packet besides the packets it holds and releases): FTC/none at length 2 0.87-1.10 (5
# runs), at 5 0.77-1.04. The split costs the echo two thread switches (one in each end's guest): the
# added p50 a middlebox at length 2 rose from ~22 to 37-59 us (2 runs), at 5 within the spread.
# Session 23 (each throughput run now prints what the buffer's thread did per released packet):
# it gets one commit message per 22-70 packets (0.014-0.045 a packet), not one a packet; it
# sends the forwarder 0.09-0.11 messages a packet and takes 0.03-0.07 hand-offs; its own CPU is
# 4.6-7.8 us a packet. perf of it at length 2: ~30% sleeping and waking in epoll, 30-40% the
# released packets' sendmmsg (about half of it the SFF's AF_XDP receive, run in its softirq,
# as none's VNFs also pay), 5-6% re-arming the loop's timerfd, a few % the buffer's own code;
# 0.117 switches a packet. Coalescing the tails' commits to one a quarter tick could change
# nothing at these rates (tried, reverted). A busy buffer's logs now wait for its tick
# instead of a timer a quarter tick after the last message: timerfd 1.6%, 0.110 switches a
# packet; 8 runs a side (REPS=2, alternated, 4 rounds), base vs this, collapsed runs left out:
# the buffer's messages 0.092-0.113 vs 0.086-0.098 a packet, its CPU a packet median 5.56 vs
# 5.46 us at length 2 and 7.42 vs 6.95 at 5, still throttled in ~60 of 70-100 periods;
# ftc/none medians 1.026 vs 1.011 at 2, 0.837 vs 0.865 at 5, within the runs' spread
# (0.88-1.22 and 0.70-0.93 without collapses); echo hold 54-140 vs 58-91 us. One run a side
# collapsed at length 2 (0.109: the buffer's thread at 26 us a packet with ~2,048 held and
# r_0 resyncing; 0.159: the first guest's two halves at their quotas) and one of mine at 5
# (0.350: the first middle guest at its quota, the known collapse).
# Session 24: each run also prints the buffer's thread's voluntary context switches (its
# sleeps, so its wake-ups) and involuntary ones a released packet (/proc of its cgroup's
# tasks), and FTC_TICK sets ftc's tick (default the scheme's 2ms). It sleeps only 0.016-0.020
# times a released packet at length 2 and 0.052-0.075 at 5 (12 runs): it is at its quota
# (throttled in 46-61 of 70-92 periods) and finds its next event ready, so at ~10-15 us a
# wake-up they are at most ~0.2-1 us of its 3.9-6.5 us a packet. Hand-overs that do not wake
# a busy end's thread (a flag under the inbox's mutex, set by a batch of >= 8, the inbox taken
# at link reads and a tick later instead; tried, reverted) engaged for 0.002 (length 2) and
# 0.006-0.009 (5) batches a released packet; 3 runs a side (REPS=2, alternated), base vs it:
# switches a packet median 0.019 vs 0.0175 at 2, 0.064 vs 0.055 at 5; its CPU a packet
# 3.99-4.74 (median 4.61) vs 3.88-4.76 (4.29) us at 2, 5.00-6.51 (5.44) vs 4.92-5.70 (5.42)
# at 5; ftc/none 0.940-1.070 (1.027) vs 1.060-1.171 (1.115) at 2 (none, the same code on both
# sides, 4% lower in its runs), 0.815-1.093 (0.881) vs 0.817-1.039 (0.856) at 5: within the
# spread, and too few batches changed to credit it with any (echo hold 47-69 vs 49-69 us but
# one run's 606, 5 throttled periods in its rounds). Tick 4ms vs 2ms (base, 2 runs a side,
# alternated): switches 0.011-0.012 vs 0.016-0.019 at 2 and 0.040-0.054 vs 0.058-0.068 at 5,
# CPU a packet 3.88-4.10 vs 3.86-4.71 us at 2 and 4.69-5.61 vs 4.70-5.43 at 5, ftc/none
# 1.03-1.12 vs 0.94-1.11 and 0.79-0.91 vs 0.87-1.06 (one run's none collapsed: 1.755), hold
# 50-56 vs 46-53 us: the tick is a third of the thread's few sleeps at length 2 and no
# measurable part of its CPU. The default stays 2ms. Where that CPU goes instead (lead, 12 s
# runs at this bench's load, the thread's utime/stime and schedstat over 6 s, no perf): 3.5-3.8
# us a released packet at length 2 and 4.4-4.6 at 5, of which 17-36% user space, the rest the
# kernel's: its releases' sends (a veth frame each, whose receive into the switch's AF_XDP
# socket runs in the sender's softirq) and the link's frames, about what a whole middlebox of
# none spends a frame (3.2-3.6 us, receive and send), while the buffer's thread slept
# 0.002-0.036 times a packet. Session 23's perf of the thread (30% in epoll's sleep and wake, 0.117
# switches a packet) was perf's own: in its window the thread released 4,500/s against the
# run's 8,495/s, sampling's cost taken from its quota. Hence the user share printed above.
# Session 25 (ftcbuf; this session's machine ran everything ~1.5x slower than session 24's:
# none ~7,100-8,200/s at both lengths). That share is 36-42 tick samples (HZ 250, tick
# accounting, no hardware PMU in this VM): +-7 points, so the kernel's part was never seen
# to grow apart from the rest. What the kernel does a released packet (perf stat -t counting
# tracepoints, 5 s) is the same at 2 and 5: one AF_PACKET frame (sendmmsg, 31 a call) whose
# softirq, on this thread, runs the switch's generic (skb-mode) XDP program (its 256 bytes of
# headroom reallocate the skb: pskb_expand_head) and copies it into the AF_XDP umem (none's
# middleboxes pay the same a frame they send); 0.086-0.089 link frames (one sendto each: the
# forwarder's messages); 0.12-0.13 system calls, 1.09 softirqs, 0.013 switches, no IPIs.
# perf -F 499 without call graphs (60 s, ~1,200 samples, the released rate unchanged: 8,194
# vs 8,164/s): 4.92 us a packet at 2 (kernel 3.79, user 1.13), 6.69 at 5 (5.33, 1.36), both
# grown; of the 1.8 us, switching in (finish_task_switch) 0.15 -> 0.73 (3x the sleeps a packet:
# the middle guests, at their quota in 59-65 of 66-74 periods at 5, feed it in bursts; ~10 us a
# switch here), the same kernel calls 25-100% dearer each (memcpy, xp_alloc, the send path:
# colder caches among more guests on CPU 0) and ftc_commits_merge 0.03 -> 0.15 (a packet's
# commit vectors: 5 groups' against 2).
# The buffer's messages now fill a peer message (1,317 / 1,239 bytes of logs at 2 / 5; the
# forwarder still puts 900 on a packet): link_out 0.086-0.093 -> 0.058-0.060 a released packet
# at 2 (about one a tick: the tick now bounds them), 0.092-0.100 -> 0.073-0.080 at 5; 5 rounds
# (REPS=2, base and it alternated; the 5th with (b) below too; collapses left out: base 1 at 2,
# 2 at 5, it none), the thread's CPU a packet median 5.77 (5.33-5.94, 9 runs) -> 5.35 us
# (4.86-5.74, 10) at 2 and 7.50 (6.61-9.30, 8) -> 6.95 (6.01-7.78, 10) at 5; ftc/none median
# 1.034 (0.953-1.070) -> 1.089 (0.959-1.128) at 2 and 0.864 (0.813-0.985) -> 0.857
# (0.789-1.027, 9; one none collapse left out) at 5: within the spread, and at 5 the middles
# bound FTC as much as the buffer does. (b) ftc_commits_merge copying a vector's own partitions
# only: 150 -> 112 ns a packet at 5 by the same perf, 26 against 22 samples: noise; reverted.
# FTMB's stalls spend the CPU time the middlebox's server would have had during them
# (a quota is a budget per period, not a slower CPU: a VNF that only slept through a 6 ms
# stall spent its whole budget after it, and the stall cost it nothing; vnfs/sfc/ftmb.c). The
# CPU quotas of every scheme's middlebox guests are printed beside the numbers (the cores
# that scheme's chain has). FTC_LINK (default direct): ftc's link parameter (switch: its state
# path through the switch, as before the link). FTMB_LOGGER (default in-line): ftmb's logger parameter (in-line:
# IL -> M -> OL, a logger guest per middlebox, as FTC's paper built FTMB; shared: one logger
# beside the path, cheaper than the paper's FTMB). FTMB_SNAPSHOT (default the scheme's 50ms):
# ftmb's snapshot period (0: FTMB without its simulated snapshots, the paper's plain FTMB).
# Why FTC's middle guests (each at its quota at length 5) pass fewer packets than none's: their
# CPU per frame, 4.1-4.2 us against none's 3.2-3.6 (medians of 4-6 runs, session 18, cpuacct
# over eth1 frames; 3.9-4.0 after its cuts), the kernel's part about equal (perf, whose own
# cost inflates both): the difference is FTC's user-space work per packet (parse of
# the carried logs and commits, the predecessor's log applied, the own transaction's log
# exported and retained, the output placed), ~4,400 instructions in a middle replica
# (bench_ftc_chain under callgrind), a third of them the state library's import and export.
# Session 19: ~3,800 (a replica frames the commits it does not prune with instead of decoding
# them, and copies what it passes on in runs), growing 2% from a ring of 2 to 5 (7% before).
# Session 20 (lengths 4 and 5, cpuacct over real windows): a middle's CPU a frame 1.07-1.32x
# none's (median ~1.09-1.10; goodput ~0.89-0.93), ~0.4 us of it user space and ~0.1-0.2 the
# kernel's copies of the ~90 bytes of logs and commits a frame carries; system calls (~0.1 a
# frame), wake-ups and timers the same as none's (perf stat). Session 21: a middle replica
# 3,285 -> 3,251 instructions a frame (callgrind), ~0.25 us of its ~4.5 us a frame is the
# protocol's user space; at length 5 single repetitions collapse (one guest at its quota,
# the first middle or an end, goodput 3.5k-5.7k/s), which decides ftc/none more than the cuts
# (8 repetitions a side: e2c892f 0.890 / 0.811 at lengths 4 / 5, 3 collapses; the cut 0.957 /
# 0.933, none; too few runs to credit ~0.1% of a middle's CPU with it).
# After each run, what limited it: each middlebox guest's throttled periods out of those it ran
# in (one throttled in nearly all is at its quota, the bottleneck) and where packets were
# dropped (the SFF's admission, a receive queue, FTC's forwarder shedding at its window).
# Also FTC's buffer hold per echo request (its ftc_buf_held_us counter): the part of FTC's added
# latency that is the commit round trip, the rest being each VNF's own work (hop_us). At the
# echo's rate it is two wake-ups of guest processes (the first VNF's for r_0's commit, the last
# one's for the release) and two sends on the link: ~42-52 us here (session 17, perf of one
# request: ~13-15 us a wake-up with its context switch, ~6 a send, ~8-10 of work each side).
# Session 18: no role re-reads a socket after a short batch nor reads its drop count each time
# (vnfs/sfc/role.c, vnfs/lib/pktio.c), so a hop costs 3 system calls, not 5 (FTC's VNFs ~8 a
# request, not ~12-13), and the ends' timers "at now" run right after the batch; the hold and
# the added p50 stayed within this bench's noise (+-10 and +-15 us between runs). Session 20:
# FTC's roles have timers (ticks) and none's VNFs none, and a wait with epoll's timeout arms
# and cancels a kernel timer, whose reprogramming leaves this guest (~5 us a wake-up: every
# FTC VNF's, two in the hold); the loop now waits on a timerfd re-armed only when its deadline
# moves sooner (vnfs/lib/loop.c): hold 51 -> 42.5 us at length 2 (every one of 8 adjacent
# pairs lower, by 7-14), 57 -> 46 at 5 (7 of 8), added p50 a middlebox 28.1 -> 23.4 and 12.3
# -> 8.9 (medians of 8 runs a side; within the runs' spread). The rest of the hold is two
# veth sends (~6 us each), two wake-ups with their switches and ~18 us of work. Session 21:
# that work sealed and checked its two messages with crypto_auth, which takes the key in again
# each time (1.5-1.8 us a short message; 0.7-1.0 from a state keyed once; ftstage.c now seals
# with keyed BLAKE2b from a keyed state, 0.3-0.5, not in the A/B below), and the ends encoded
# logs again (now copied as they came): hold at length 2 39.5 -> 33
# us (medians of 10 runs a side; A 33-43, B 31-39; 7 of 10 adjacent pairs lower, by 2-12, the
# other 3 within 2), at length 4 38.5 -> 37 (7 of 10 lower, by 2-7: within its spread); added
# p50 a middlebox 20.7 -> 22.0 at 2, 11.5 -> 11.1 at 4 (within the rounds' noise). Session
# 22 (perf of the hold's steps at length 4, us): the last guest's r and buffer 8, its send on
# the link with the first guest's wake-up 7, switch 4, epoll return 4, receive 2, forwarder, r_0
# and the commit 7, its send 6, switch 2, epoll return 3, receive 2, release 3: ~30 of it the
# kernel's sends, switches and wake-ups (the floor of a round trip between two guests on one
# CPU), the rest user work run cold. The mean moves with one request held through a throttled
# period (session 21's 83 us at length 4: the one run of 75 whose middlebox guests were
# throttled during the rounds), hence the longest hold printed beside it. Off the hold's path,
# the buffer's tick tells the forwarder "0 held" after each lone release, a wake-up of the first
# guest per request; left for that message alone to tell (6 runs a side), the hold at length 2
# rose 1-4 us in 6 of 6 pairs and the added p50 2-11 (at 4 within the noise): not kept. And what
# the buffer still held when each throughput run returned (ftc_buf_held_now, some seconds after
# its traffic stopped: 0 when the chain drained). Session 14 once saw 32.6 s per echo request at
# length 5: packets of the overload run held until the echo's traffic came, because once
# traffic stopped the chain released about one per lap (fixed in session 15).
# Latency: each scheme's chain of the length up at once (instances INST-l-SCHEME, a 1 s run
# kept), then ECHO_ROUNDS (default 15) rounds of COUNT (default 200) echo requests each, the
# schemes taking turns within every round, so that the machine's load (other work on the shared
# host) falls on all of them alike: a scheme's p50 is the median of its rounds', and FTC's added
# latency per middlebox is the median of the rounds' paired differences with none, with their
# range (min-max). Session 15 (ftclat), why not as before (closed loop, right after each
# throughput run, once): (1) the switch's PMD sleeps 100 us between polls outside a workload
# (cmd_run.c), and a closed loop falls in step with it: every traversal cost a whole sleep, and
# none and ftc both came out at 1,050-1,070 us at length 2 whatever FTC added (20 us: 397 and
# 451-471 us); these runs fix it at the 20 us the workload has (--pmd-sleep 20). (2) A closed
# loop at ~2,000 requests/s took each middlebox guest past its 0.04 cores (each then stopped
# for up to 96 ms of a period, FTC's more, as it does more per request), so the echoes measured
# the quotas; at ECHO_RATE (default 400/s, open loop, one request in flight: the round trip is
# far below its period; 0: closed loop) no middlebox guest was throttled (the throttled
# periods during the phase are printed). (3) Single runs on separately set-up chains differed
# by up to 55 us at the same point (load from others' work), more than FTC's whole addition
# at length 2. The PMDs of the instances share CPU 1, as every run's does.
# HALT_POLL (default 200 where the host's idle driver is haltpoll, a KVM guest's; empty: off):
# the latency phase's chains run with `sfclab run --halt-poll`, an idle CPU polling that many
# microseconds before it halts. Session 26: this VM's kernel line has it at 0, so each wake-up
# across CPUs (the switch's PMD on CPU 1 waking a guest on CPU 0) is an interrupt to a halted
# virtual CPU (an eventfd ping-pong between CPUs 0 and 1: 45 us a round trip, 5.8 polling).
# 2 rounds a side (REPS=1 LENGTHS="2 5" ECHO_ROUNDS=9, off and 200 us alternated): none's p50
# 520-531 -> 450-459 us at length 2 and 931-957 -> 780-796 at 5, its rounds' p50s within
# 516-585 -> 441-467 and 910-1,342 -> 776-810; FTC's added p50 a middlebox unchanged (25.4-28.0
# -> 27.4-29.4 us at 2, 11.1-11.4 -> 11.5-11.6 at 5, ranges 13.8-35.2 -> 24.6-60.1 and -75-19
# -> 9.7-14.5): its commit round trip runs between two guests on CPU 0 alone, where no
# wake-up crosses CPUs. The throughput runs keep the host's idle as it is (ftc/none at 5:
# 0.891 / 0.954 off, 0.877 / 0.864 on; one run each, within the runs' spread).
set -u
[ "$(id -u)" = 0 ] || { echo "bench/ftc.sh: needs root, skipped"; exit 0; }
cd "$(dirname "$0")/.."
LENGTHS=${LENGTHS:-2 3 4 5}
VNF_CPUS=${VNF_CPUS-0.04}
RATE=${RATE:-$([ -n "$VNF_CPUS" ] && echo 16000 || echo 0)}
[ -n "$VNF_CPUS" ] && SFF_WINDOW=${SFF_WINDOW-0}
DURATION=${DURATION:-5s}
COUNT=${COUNT:-200}
ECHO_RATE=${ECHO_RATE:-400}
ECHO_ROUNDS=${ECHO_ROUNDS:-15}
[ -w /sys/module/haltpoll/parameters/guest_halt_poll_ns ] && HALT_POLL=${HALT_POLL-200}
REPS=${REPS:-1}
SCHEMES=${SCHEMES:-none ftc ftmb}
inst=${INST:-sfct-bftc-$$}
tmp=$(mktemp -d /tmp/sfct-bftc-XXXXXX)
db=$tmp/bench.db
trap 'for i in "$inst" $(for s in $SCHEMES; do echo "$inst-l-$s"; done); do
          bin/sfclab -i "$i" down >/dev/null 2>&1; bin/sfclab -i "$i" clean >/dev/null 2>&1; done
      rm -rf "$tmp"' EXIT
q() { sqlite3 "$db" "$1"; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); every guest's cpus: ${CPUS:-1}; each middlebox guest's cpus: ${VNF_CPUS:-the same}; the quotas' period: ${PERIOD:-100ms}; offered: $RATE/s; the SFF's window: ${SFF_WINDOW:-256, the default}; ftc's link: ${FTC_LINK:-direct}; ftc's ends: ${FTC_ENDS:-own}; ftc's tick: ${FTC_TICK:-2ms}; ftmb's logger: ${FTMB_LOGGER:-in-line}; ftmb's snapshot: ${FTMB_SNAPSHOT:-50ms}; the latency phase's halt polling: ${HALT_POLL:-off}${HALT_POLL:+ us}; host CPUs: $(nproc)"

vnf_res=
[ -n "${VNF_CPUS:-}" ] && vnf_res=", vnf: {cpus: $VNF_CPUS}"
[ -n "${PERIOD:-}" ] && vnf_res+=", period: $PERIOD"
point() { # SCHEME LENGTH -> experiment file
    cat >"$tmp/$1-$2.yaml" <<YAML
experiment: bench-ftc-$1-$2
provider: netns
scheme: $1
resources: {cpus: ${CPUS:-1}$vnf_res, memory: 256M}
chain:
  length: $2
  fill: {fn: monitor, params: {sharing: 1}}
  vnfs: []
  rules: ["udp"]
$( [ "$1" = ftc ] && echo "params: {link: ${FTC_LINK:-direct}, ends: ${FTC_ENDS:-own}${FTC_TICK:+, tick: $FTC_TICK}${SFF_WINDOW:+, sff_window: $SFF_WINDOW}}")
$( [ "$1" = none ] && [ -n "${SFF_WINDOW:-}" ] && echo "params: {sff_window: $SFF_WINDOW}")
$( [ "$1" = ftmb ] && echo "params: {logger: ${FTMB_LOGGER:-in-line}${FTMB_SNAPSHOT:+, snapshot: $FTMB_SNAPSHOT}${SFF_WINDOW:+, sff_window: $SFF_WINDOW}}")
workload: {kind: udp, size: 256, duration: $DURATION, rate: $RATE}
warmup: 0
repetitions: 1
seed: 1
YAML
}
declare -A tput p50 runs eff hold hold_max left spread cores added added_range
# "GUEST=CORES ... total=CORES": the CPU quota of each middlebox guest (a VNF's, an in-line
# logger's) of the running instance, from its cgroup (v1 or v2); "-" for one without a quota.
quotas() {
    local g d q p total=0 out=
    for g in $(bin/sfclab -i "$inst" status 2>/dev/null | awk '{ print $1 }' \
               | grep -E '^(v|l)[0-9]+$' | sort -V); do
        d=$(find /sys/fs/cgroup -maxdepth 6 -type d -path "*/sfclab-$inst/$g" 2>/dev/null \
            | while read -r x; do [ -e "$x/cpu.max" ] || [ -e "$x/cpu.cfs_quota_us" ] && echo "$x"; done \
            | head -1)
        if [ -e "$d/cpu.max" ]; then
            read -r q p <"$d/cpu.max"
        elif [ -n "$d" ]; then
            q=$(cat "$d/cpu.cfs_quota_us"); p=$(cat "$d/cpu.cfs_period_us")
        else
            q=max
        fi
        case $q in max|-1) out+=" $g=-" ;;
            *) out+=" $g=$(awk -v q="$q" -v p="$p" 'BEGIN { printf "%g", q / p }')"
               total=$(awk -v t="$total" -v q="$q" -v p="$p" 'BEGIN { printf "%g", t + q / p }') ;;
        esac
    done
    echo "${out# } total=$total"
}
# What limited the run: "GUEST=THROTTLED/PERIODS ..." for each middlebox guest with a quota (of
# the periods (PERIOD) it ran in, those it hit its quota in: a guest throttled in nearly all of
# them is the bottleneck; one throttled in few waited for packets), then where packets were
# dropped: the SFF's entry queue (its admission, before any middlebox), every other receive
# queue that overflowed (sff, vN), FTC's forwarder shedding at its window, and FTC's drops
# between replicas (held or stashed too long) and at its buffer; then FTC's repairs
# (retransmissions asked) and its forwarder's admission (packets it counted lost on the way,
# packets met with its window or the buffer's backlog closed, socket reads paused). Counted over
# the guests' life (the run, most of which is the workload); "-" for a guest without a quota.
limits() {
    local g d out= drops= ftc= c v n guests
    guests=$(bin/sfclab -i "$inst" status 2>/dev/null | awk '{ print $1 }' \
             | grep -E '^(v|l)[0-9]+$' | sort -V)
    for g in $guests; do
        d=$(find /sys/fs/cgroup -maxdepth 6 -type d -path "*/sfclab-$inst/$g" 2>/dev/null \
            | while read -r x; do [ -e "$x/cpu.stat" ] && echo "$x"; done | head -1)
        if [ -n "$d" ] && grep -q '^nr_throttled' "$d/cpu.stat"; then
            # FTC's end guests: the halves' (the end's thread, the middlebox's), not the sum's.
            for x in "" /own /rest; do
                [ -e "$d$x/cpu.stat" ] || continue
                [ -z "$x" ] && [ -e "$d/own/cpu.stat" ] && continue
                out+=" $g$x=$(awk '$1 == "nr_throttled" { t = $2 } $1 == "nr_periods" { p = $2 }
                                 END { print t "/" p }' "$d$x/cpu.stat")"
            done
        else
            out+=" $g=-"
        fi
    done
    for g in sff $(echo "$guests" | grep -E '^v'); do
        c=$(bin/sfclab -i "$inst" agent "$g" stats '{"id":1}' 2>/dev/null | tr -d ' "\n' \
            | sed 's/.*counters:{//; s/}.*//' | tr ',' '\n')
        for v in entry_rx_dropped rx_dropped ftc_fwd_shed ftc_held_dropped ftc_stash_dropped \
                 ftc_buf_overload ftc_buf_stale ftc_fwd_logs_dropped ftc_link_rx_dropped \
                 ftc_peer_rx_dropped; do
            n=$(echo "$c" | awk -F: -v k="$v" '$1 == k { print $2 }')
            [ -n "$n" ] && [ "$n" != 0 ] && drops+=" $g.$v=$n"
        done
        for v in ftc_retx_asked ftc_stashed ftc_stash_reads ftc_retx_parsed ftc_resyncs ftc_fwd_counted_lost ftc_fwd_closed_window ftc_fwd_closed_backlog \
                 ftc_fwd_rx_paused; do
            n=$(echo "$c" | awk -F: -v k="$v" '$1 == k { print $2 }')
            [ -n "$n" ] && [ "$n" != 0 ] && ftc+=" $g.${v#ftc_}=$n"
        done
    done
    echo "throttled/periods:${out:- -}; drops:${drops:- none}${ftc:+; ftc:$ftc}"
}
# "HELD_US RELEASED HELD_NOW HELD_MAX_US": what the buffer (on the last VNF's guest, v<N-1>) of
# instance INST held so far, in total, the packets it holds now and the longest it held one.
# Usage: held INST LENGTH.
held() {
    bin/sfclab -i "$1" agent "v$(($2 - 1))" stats '{"id":1}' 2>/dev/null | tr -d ' ,"' \
        | awk -F: '$1 == "ftc_buf_held_us" { h = $2 } $1 == "ftc_released" { r = $2 }
                   $1 == "ftc_buf_held_now" { n = $2 } $1 == "ftc_buf_held_us_max" { m = $2 }
                   END { print h + 0, r + 0, n + 0, m + 0 }'
}
# What FTC's buffer's thread did per packet it released over the run (the guests' life): "own=US"
# its cgroup's CPU time (cpuacct) a released packet, then per released packet the buffer's
# guest's commit messages in (FTC_MSG_COMMIT from the first guest's tail), frames in and out
# on the link, batches its ring member handed it; the first guest's frames out on the link; and
# the thread's voluntary context switches (its sleeps: wake-ups) and involuntary ones (its
# quota's throttling among them) a released packet, and the share of its CPU time in user space
# (utime against stime, in ticks: the rest is the kernel's).
# Usage: end_cost LENGTH (of instance $inst).
end_cost() {
    local g=v$(($1 - 1)) d c0 c sw
    d=$(find /sys/fs/cgroup -maxdepth 7 -type d -path "*/sfclab-$inst/$g/own" 2>/dev/null \
        | while read -r x; do [ -e "$x/cpuacct.usage" ] && echo "$x"; done | head -1)
    c=$(bin/sfclab -i "$inst" agent "$g" stats '{"id":1}' 2>/dev/null | tr -d ' ,"')
    c0=$(bin/sfclab -i "$inst" agent v0 stats '{"id":1}' 2>/dev/null | tr -d ' ,"')
    sw=$([ -n "$d" ] && while read -r t; do
             cat "/proc/$t/status" 2>/dev/null
             sed -n 's/^.*) /stat /p' "/proc/$t/stat" 2>/dev/null     # $13, $14: utime, stime
         done <"$d/tasks" \
        | awk '$1 == "voluntary_ctxt_switches:" { v += $2 }
               $1 == "nonvoluntary_ctxt_switches:" { n += $2 }
               $1 == "stat" { u += $13; k += $14 }
               END { print v + 0, n + 0, u + k ? 100 * u / (u + k) : -1 }')
    { echo "$c"; echo "$c0" | sed 's/^/v0./'; } \
        | awk -F: -v ns="$([ -n "$d" ] && cat "$d/cpuacct.usage")" -v sw="${sw:-}" '{ v[$1] = $2 }
              END { r = v["ftc_released"]; if (!r) { print "-"; exit }
                    printf "own=%s us, commits_in=%.3f link_in=%.3f link_out=%.3f",
                           ns != "" ? sprintf("%.2f", ns / 1000 / r) : "-",
                           v["ftc_buf_commits_in"] / r, v["ftc_link_in"] / r,
                           v["ftc_link_out"] / r
                    printf " handoffs=%.3f v0.link_out=%.3f", v["ftc_handoffs"] / r,
                           v["v0.ftc_link_out"] / r
                    if (split(sw, s, " ") == 3) {
                        printf " vcsw=%.3f ivcsw=%.3f", s[1] / r, s[2] / r
                        if (s[3] >= 0) {
                            printf " user=%.0f%%", s[3]
                        }
                    }
                    printf " (%d released)\n", r }'
}
# The throttled periods of instance INST's middlebox guests so far, in all.
throttled() {
    local g d t=0
    for g in $(bin/sfclab -i "$1" status 2>/dev/null | awk '{ print $1 }' | grep -E '^(v|l)[0-9]+$'); do
        d=$(find /sys/fs/cgroup -maxdepth 6 -type d -path "*/sfclab-$1/$g" 2>/dev/null \
            | while read -r x; do [ -e "$x/cpu.stat" ] && echo "$x"; done | head -1)
        [ -n "$d" ] && t=$((t + $(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat")))
    done
    echo "$t"
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END {
    if (!NR) { print 0 } else if (NR % 2) { print v[(NR + 1) / 2] }
    else { printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }
# Latency at length N (the header's "Latency"): every scheme's chain up side by side, then
# ECHO_ROUNDS rounds in which each takes a turn of COUNT echo requests. Sets p50[SCHEME-N],
# added[N] and added_range[N] (per middlebox, from each round's pair), hold[N].
latency() {
    local n=$1 s r i out dst h0 h1 t0 rounds= ok=1
    declare -A rp th
    for s in $SCHEMES; do
        i=$inst-l-$s
        DURATION=1s RATE=200 point "$s" "$n"
        bin/sfclab -i "$i" --db "$db" run "$tmp/$s-$n.yaml" --keep --fresh --pmd-sleep 20 \
            ${HALT_POLL:+--halt-poll "$HALT_POLL"} \
            >"$tmp/l-$s-$n.log" 2>&1 \
            || { echo "bench/ftc.sh: latency, $s, length $n failed: $(tail -3 "$tmp/l-$s-$n.log")"; ok=; }
        th[$s]=$(throttled "$i")
    done
    if [ -n "$ok" ]; then
        dst=$(bin/sfclab -i "$inst-l-none" exec server ip -4 -o addr show dev eth1 \
              | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -1)
        echo "${SCHEMES}" | grep -qw ftc && h0=$(held "$inst-l-ftc" "$n")
        for r in $(seq "$ECHO_ROUNDS"); do
            for s in $SCHEMES; do
                out=$(bin/sfclab -i "$inst-l-$s" exec client "$PWD/bin/sfcd" client --workload echo \
                      --dst "$dst" --iface eth1 --size 256 --count "$COUNT" --rate "$ECHO_RATE" \
                      --timeout 1s 2>&1)
                rp[$s]+=" $(echo "$out" | sed -n 's/.*rtt_us mean=[0-9.]* ci95=[0-9.]* p50=\([0-9.]*\).*/\1/p')"
            done
        done
        for s in $SCHEMES; do
            # Where the time goes, from the 1 s run that set the chain up: each component's own
            # work (hop_us p50: FTC's forwarder in vnf[0]'s, its buffer's hold in the last
            # VNF's, when the NSH header had room for its stamp) and its way on (link_us: the
            # switch; the last stamped one's includes the rest of the chain).
            echo "latency length $n, $s: p50 per component of its set-up run (us):" \
                 "$(q "select replace(replace(s.labels, '{\"component\":\"', ''), '\"}', '')
                       || '.' || replace(s.metric, '_us', '') || '=' || printf('%.1f', s.p50)
                       from summaries s join runs r on r.id = s.run
                       where r.id = (select max(id) from runs where experiment = 'bench-ftc-$s-$n')
                       and s.metric in ('hop_us', 'link_us') order by s.labels, s.metric" | tr '\n' ' ')"
            p50[$s-$n]=$(echo "${rp[$s]}" | median)
            echo "latency length $n, $s: p50 per round (us):${rp[$s]}; middlebox guests throttled" \
                 "during the rounds: $(( $(throttled "$inst-l-$s") - ${th[$s]} )) periods"
        done
        if echo "${SCHEMES}" | grep -qw ftc; then
            h1=$(held "$inst-l-ftc" "$n")
            hold[$n]=$(awk -v a="$h0" -v b="$h1" 'BEGIN { split(a, x); split(b, y);
                printf "%.0f", (y[2] > x[2] ? (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
            hold_max[$n]=$(echo "$h1" | awk '{ print $4 }')
            rounds=$(paste <(echo "${rp[ftc]}" | tr ' ' '\n' | sed '/^$/d') \
                           <(echo "${rp[none]:-}" | tr ' ' '\n' | sed '/^$/d') \
                     | awk -v n="$n" 'NF == 2 { printf " %.1f", ($1 - $2) / n }')
            added[$n]=$(echo "$rounds" | median)
            added_range[$n]=$(echo "$rounds" | tr ' ' '\n' | sed '/^$/d' | sort -n \
                              | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')
            echo "latency length $n, ftc's added p50 per middlebox per round (us):$rounds"
        fi
    fi
    for s in $SCHEMES; do
        bin/sfclab -i "$inst-l-$s" down >/dev/null 2>&1
    done
}
for n in $LENGTHS; do
    for rep in $(seq "$REPS"); do
        for s in $SCHEMES; do
            point "$s" "$n"
            # Once more when the private switch missed its start-up deadline (a loaded machine).
            for try in 1 2; do
                bin/sfclab -i "$inst" --db "$db" run "$tmp/$s-$n.yaml" --keep --fresh \
                    >"$tmp/$s-$n.log" 2>&1 && break
                grep -q "did not apply configuration" "$tmp/$s-$n.log" && [ "$try" = 1 ] \
                    || { echo "bench/ftc.sh: $s, length $n failed: $(tail -3 "$tmp/$s-$n.log")"; exit 1; }
                bin/sfclab -i "$inst" clean >/dev/null 2>&1
            done
            echo "$s length $n rep $rep: $(grep -m1 'cpu/memory:' "$tmp/$s-$n.log" | sed 's/^ *//')"
            echo "$s length $n rep $rep: $(limits)"
            if [ "$rep" = 1 ]; then
                cores[$s-$n]=$(quotas)
                echo "$s length $n: middlebox guests' CPU quotas (cores): ${cores[$s-$n]}"
            fi
            runs[$s-$n]+=" $(q "select printf('%.0f', s.mean) from summaries s join runs r on r.id = s.run
                             where r.experiment='bench-ftc-$s-$n' and s.metric='rx_pps'
                             and (s.labels is null or s.labels = '') order by r.id desc limit 1")"
            # Goodput per CPU second of the instance's guests: what the scheme costs, whatever
            # share of the shared CPU the run got.
            eff[$s-$n]+=" $(q "select printf('%.0f', p.mean * 100 / c.mean) from summaries p
                            join summaries c on c.run = p.run join runs r on r.id = p.run
                            where r.experiment='bench-ftc-$s-$n' and p.metric='rx_pps'
                            and (p.labels is null or p.labels = '') and c.metric='cpu_pct_total'
                            and c.mean > 0 order by r.id desc limit 1")"
            [ "$s" = ftc ] && left[$n]+=" $(held "$inst" "$n" | awk '{ print $3 }')"
            [ "$s" = ftc ] && echo "ftc length $n rep $rep: the buffer's thread per released" \
                "packet: $(end_cost "$n")"
            bin/sfclab -i "$inst" down >/dev/null 2>&1
        done
    done
    for s in $SCHEMES; do
        tput[$s-$n]=$(echo "${runs[$s-$n]}" | median)
    done
    latency "$n"
    # The spread of the per-repetition ratios (each from adjacent runs): min-max of FTC/none and
    # of FTC/ftmb, what a 10% target has to be judged against.
    for d in none ftmb; do
        spread[$d-$n]=$(paste <(echo "${runs[ftc-$n]:-}" | tr ' ' '\n' | sed '/^$/d') \
                              <(echo "${runs[$d-$n]:-}" | tr ' ' '\n' | sed '/^$/d') \
            | awk '$2 > 0 { r = $1 / $2; lo = (n++ && lo < r) ? lo : r; hi = (hi > r) ? hi : r }
                   END { if (n) printf "%.3f-%.3f", lo, hi; else print "-" }')
    done
    if [ "$REPS" -gt 1 ]; then
        echo "length $n, rx_pps per repetition: none${runs[none-$n]:-} / ftc${runs[ftc-$n]:-}"
        paste <(echo "${runs[ftc-$n]:-}" | tr ' ' '\n' | sed '/^$/d') \
              <(echo "${runs[none-$n]:-}" | tr ' ' '\n' | sed '/^$/d') \
            | awk -v n="$n" '$2 > 0 { r = r sprintf(" %.3f", $1 / $2) }
                             END { print "length " n ", ftc/none per repetition:" r }'
        echo "length $n, rx packets per guest CPU second: none${eff[none-$n]:-} / ftc${eff[ftc-$n]:-}"
        paste <(echo "${eff[ftc-$n]:-}" | tr ' ' '\n' | sed '/^$/d') \
              <(echo "${eff[none-$n]:-}" | tr ' ' '\n' | sed '/^$/d') \
            | awk -v n="$n" '$2 > 0 { r = r sprintf(" %.3f", $1 / $2) }
                             END { print "length " n ", ftc/none per CPU second:" r }'
    fi
done
printf '%-8s %10s %10s %10s %9s %13s %9s %13s %10s %10s %10s\n' length "none pps" "ftc pps" \
    "ftmb pps" ftc/none "(range)" ftc/ftmb "(range)" "none p50" "ftc p50" "ftmb p50"
for n in $LENGTHS; do
    awk -v n="$n" -v a="${tput[none-$n]:-0}" -v b="${tput[ftc-$n]:-0}" -v c="${tput[ftmb-$n]:-0}" \
        -v x="${p50[none-$n]:-0}" -v y="${p50[ftc-$n]:-0}" -v z="${p50[ftmb-$n]:-0}" \
        -v sn="${spread[none-$n]:--}" -v sm="${spread[ftmb-$n]:--}" \
        'BEGIN { printf "%-8s %10.0f %10.0f %10.0f %9.3f %13s %9.3f %13s %10.1f %10.1f %10.1f\n",
                 n, a, b, c, a ? b / a : 0, sn, c ? b / c : 0, sm, x, y, z }'
done
printf '%-8s %10s %10s %10s   %s\n' length "none cores" "ftc cores" "ftmb cores" \
    "(the middlebox guests' CPU quotas in all, cores; host CPUs: $(nproc))"
for n in $LENGTHS; do
    printf '%-8s %10s %10s %10s\n' "$n" "$(echo "${cores[none-$n]:-}" | sed -n 's/.*total=//p')" \
        "$(echo "${cores[ftc-$n]:-}" | sed -n 's/.*total=//p')" \
        "$(echo "${cores[ftmb-$n]:-}" | sed -n 's/.*total=//p')"
done
first=${LENGTHS%% *}; last=${LENGTHS##* }
awk -v f="${tput[ftc-$first]:-0}" -v l="${tput[ftc-$last]:-0}" \
    -v g="${tput[none-$first]:-0}" -v m="${tput[none-$last]:-0}" -v a="$first" -v b="$last" \
    'function drop(x, y) { return x ? sprintf("%.1f%%", 100 * (x - y) / x) : "-" }
     BEGIN { printf "ftc throughput drop, length %s to %s: %s (none: %s)\n", a, b, drop(f, l),
                    drop(g, m) }'
for n in $LENGTHS; do
    [ -n "${added[$n]:-}" ] && echo "ftc p50 added per middlebox beyond none, length $n:" \
        "${added[$n]} us (median of $ECHO_ROUNDS rounds' pairs; range ${added_range[$n]})"
done
# Each repetition's drop (its runs at the two lengths), what the medians' drops vary by: single
# runs of none under the quotas varied by up to 17% (session 14: 9,600 to 12,120/s at length 2),
# so judge FTC's drop from REPS >= 3.
if [ "$REPS" -gt 1 ] && [ "$first" != "$last" ]; then
    for s in $SCHEMES; do
        paste <(echo "${runs[$s-$first]:-}" | tr ' ' '\n' | sed '/^$/d') \
              <(echo "${runs[$s-$last]:-}" | tr ' ' '\n' | sed '/^$/d') \
            | awk -v s="$s" -v a="$first" -v b="$last" \
                '$1 > 0 { r = r sprintf(" %.1f%%", 100 * ($1 - $2) / $1) }
                 END { print s " throughput drop, length " a " to " b ", per repetition:" r }'
    done
fi
for n in $LENGTHS; do
    [ -n "${hold[$n]:-}" ] && echo "ftc length $n: the buffer held each echo request ${hold[$n]} us" \
        "on average (the commit round trip to the first VNF's guest and back, over ftc's link: ${FTC_LINK:-direct};" \
        "the longest hold of the chain's life, its set-up run included: ${hold_max[$n]:-?} us);" \
        "it still held${left[$n]:- ?} packets when each throughput run returned"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
