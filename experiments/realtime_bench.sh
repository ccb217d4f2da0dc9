# The runs behind experiments/results/realtime.md (issue 17), one after another on an otherwise idle machine
# (about 50 min on a 2-core CPU): one agent on one env per episode, every replan timed. The last line needs
# stable-worldmodel (make bench-deps).
cd "$(dirname "$0")/.."  # the repository root
export OMP_WAIT_POLICY=PASSIVE MUJOCO_GL=egl
B=".venv/bin/python experiments/bench_realtime.py"
lscpu | grep "Model name"
$B --task reacher --suite lewm --episodes 10 --setting search_fp32=samples:300,iters:15,warm_iters:5,precision:fp32,proposal:off --setting search_bf16=samples:300,iters:15,warm_iters:5,precision:bf16,proposal:off
$B --task reacher --suite lewm --episodes 50 --setting default= --setting default_fp32=precision:fp32 --setting no_proposal=samples:64,iters:4,warm_iters:2,proposal:off --setting s32=samples:32 --setting s128=samples:128,iters:6 --setting mppi=planner:mppi --setting icem=planner:icem --setting warm1=iters:3,warm_iters:1
$B --task pointmass --suite lewm --episodes 50 --setting default=
$B --task tworoom --suite lewm --episodes 50 --setting default=
$B --task reacher --suite free --episodes 50 --setting default=
$B --task reacher --suite free --episodes 10 --setting search_fp32=samples:300,iters:15,warm_iters:5,precision:fp32,proposal:off
# MPPI (temperature relative to the elite cost spread, refitted std) with the same budget on the other suites
$B --task pointmass --suite lewm --episodes 50 --setting mppi=planner:mppi
$B --task tworoom --suite lewm --episodes 50 --setting mppi=planner:mppi
$B --task reacher --suite free --episodes 50 --setting mppi=planner:mppi
$B --report
.venv/bin/python experiments/bench_planning.py --parts ratio  # same budget as stable-worldmodel (target 2)
