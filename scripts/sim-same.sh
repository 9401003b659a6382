#!/usr/bin/env bash
# Whether two builds of qlb simulate the same: the policies lc and qlb over
# 2-1,000 backends, loads 0.3-0.95, Poisson and on/off arrivals, exponential
# and Pareto service, 100,000 requests each; every result but the wall time
# must match (docs/decisions/2026-11-21-sim-tournament-tree.md).
# usage: scripts/sim-same.sh OLD_QLB NEW_QLB
set -euo pipefail
old=${1:?usage: sim-same.sh OLD_QLB NEW_QLB} new=${2:?usage: sim-same.sh OLD_QLB NEW_QLB}
bad=0 n=0
for pol in qlb lc; do for b in 2 3 8 64 1000; do for load in 0.3 0.7 0.95; do for arr in poisson onoff; do for svc in exp pareto; do
  args="sim --policy $pol --backends $b --mu-ratio 3:1 --load $load --arrivals $arr --service $svc --requests 100000 --json"
  a=$($old $args | jq -c '.results[] | del(.wall_s)')
  c=$($new $args | jq -c '.results[] | del(.wall_s)')
  n=$((n + 1))
  [[ $a == "$c" ]] || { echo "DIFF: $args"; echo " old $a"; echo " new $c"; bad=$((bad + 1)); }
done; done; done; done; done
echo "$n configurations, $bad differ"
[[ $bad -eq 0 ]]
