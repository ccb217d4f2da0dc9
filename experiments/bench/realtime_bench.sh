# The runs behind experiments/bench/realtime.md (issue 17), one after another on an otherwise idle machine
# (about 60 min on a 2-core CPU): one agent on one env per episode, every replan timed. "before" is the agent's
# default before issue 17 (CEM, 300 samples, 15/5 iterations, fp32, no proposal); "default" is today's (MPPI,
# 64 samples, 4/2 iterations, precision auto, the checkpoint's proposal policy). The last line needs
# stable-worldmodel (make bench-deps).
cd "$(dirname "$0")/../.."  # the repository root
export OMP_WAIT_POLICY=PASSIVE MUJOCO_GL=egl
B=".venv/bin/python experiments/bench/bench_realtime.py"
BEFORE="planner:cem,samples:300,iters:15,warm_iters:5,precision:fp32,proposal:off"
lscpu | grep "Model name"
$B --task reacher --suite lewm --episodes 10 --setting before=$BEFORE --setting before_bf16=${BEFORE/fp32/bf16}
$B --task reacher --suite lewm --episodes 50 --setting default= --setting cem=planner:cem \
    --setting cem_fp32=planner:cem,precision:fp32 \
    --setting cem_no_proposal=planner:cem,samples:64,iters:4,warm_iters:2,proposal:off \
    --setting cem_s32=planner:cem,samples:32 --setting cem_s96=planner:cem,samples:96,iters:5 \
    --setting cem_s128=planner:cem,samples:128,iters:6 --setting icem=planner:icem \
    --setting cem_warm1=planner:cem,iters:3,warm_iters:1
for task in pointmass tworoom; do
    $B --task $task --suite lewm --episodes 50 --setting default=planner:mppi --setting cem=planner:cem
done
# The proposal policy alone (no search): the default of the checkpoints whose planning.json names it.
for task in tworoom cube; do
    $B --task $task --suite lewm --episodes 50 --setting proposal=planner:proposal
done
$B --task reacher --suite free --episodes 50 --setting default= --setting cem=planner:cem
$B --task reacher --suite free --episodes 10 --setting before=$BEFORE
$B --report
.venv/bin/python experiments/bench/bench_planning.py --parts ratio  # same budget as stable-worldmodel (target 2)
