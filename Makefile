# lewm-plan: set-up, tests, and the reproducible pipelines.
# torch is installed first and pinned. Which build: on Linux, PyPI's torch is the CUDA build (several GB), right for
# a machine with an NVIDIA GPU; TORCH_INDEX=auto (the default) takes PyPI's with a GPU and PyTorch's CPU index
# (https://download.pytorch.org/whl/cpu) without one, when that index answers (experiments/setup/torch_index.py).
# Choose yourself: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu (or .../whl/cu128), or
# TORCH_INDEX= for pip's own index and config (an offline machine with local wheels).
PYTHON ?= python3
VENV ?= .venv
# Data and long runs live outside the checkout: $LEWM_DATA, by default the user's cache folder.
LEWM_DATA ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lewm
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH ?= torch==2.13.0
TORCH_INDEX ?= auto
# Tests only: stable-worldmodel's own LeWM code, without its dependencies (setup.cfg's dev extra has the few its
# model classes need; its base install would pull the Lance stack, ~410 MB).
SWM ?= stable-worldmodel==0.1.1
export MUJOCO_GL ?= egl

.PHONY: setup lint test test-fast demo goal clean-venv

# setuptools warns on every editable install of a flat layout ("folders ... with the same name as your package may
# take precedence during imports"): this checkout is the package, so that is intended, and PYTHONWARNINGS silences it.
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	index='$(TORCH_INDEX)'; [ "$$index" != auto ] || index=$$($(PY) experiments/setup/torch_index.py); \
	echo "installing $(TORCH) from $${index:-pip's own index}"; \
	$(PIP) install -q "$(TORCH)" $${index:+--index-url "$$index"}
	PYTHONWARNINGS=ignore::UserWarning $(PIP) install -q -e ".[dev,ray]"
	$(PIP) install -q --no-deps "$(SWM)"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the package with its test tools

# The tests run over two cores (pytest-xdist, a worker per core, each test file on one worker so that a module's
# fixtures are built once; TEST_WORKERS=0 runs them in this process). test-fast leaves out the tests marked slow
# (training, evaluation, commands end to end): the inner loop, under 2 minutes; test lints, then runs everything
# (about 10 minutes on a 2-core CPU).
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: setup  ## check the code with ruff (rules in pyproject.toml)
	$(VENV)/bin/ruff check .

test: lint  ## lint, then run the whole test suite
	$(PYTEST)

test-fast: setup  ## run the tests not marked slow (the inner loop, under 2 minutes)
	$(PYTEST) -m "not slow"

demo: setup  ## plan towards the example goal with the shipped reacher model
	$(VENV)/bin/lewm-plan --env reacher --goal agent/examples/reacher_goal.png

clean-venv:
	rm -rf $(VENV)

# ---- the shipped reacher model, from scratch (about 1.5 h on a 2-core CPU) --------------------------------
# Collects 600 training and 100 held-out episodes, trains the cpu preset, ships the checkpoint into the package
# with the held-out states, and evaluates it on both protocols with CEM and MPPI.
REACHER_STEPS ?= 3000
.PHONY: reacher-model reacher-eval
reacher-model: setup
	mkdir -p data runs
	[ -f data/reacher.h5 ] || $(VENV)/bin/lewm-collect --env reacher --episodes 600 --steps 100 --seed 0 --out data/reacher.h5
	[ -f data/reacher_eval.h5 ] || $(VENV)/bin/lewm-collect --env reacher --episodes 100 --steps 100 --seed 1 --out data/reacher_eval.h5
	OMP_WAIT_POLICY=PASSIVE $(PY) -m world_model.training.train --config experiments/configs/reacher.yaml --data data/reacher.h5 \
		--out runs/reacher_cpu --steps $(REACHER_STEPS) $$([ -f runs/reacher_cpu/train_state.pt ] && echo --resume)
	$(VENV)/bin/lewm-ship --run runs/reacher_cpu --heldout data/reacher_eval.h5 --name reacher
	$(VENV)/bin/lewm-train-proposal --checkpoint world_model/checkpoints/reacher --data data/reacher.h5 --steps 2000
	$(MAKE) reacher-eval

reacher-eval: setup
	$(VENV)/bin/lewm-eval --env reacher --suite lewm --suite free --planner cem --planner mppi --episodes 50 \
		--out experiments/reacher/reacher_eval

# ---- the shipped pointmass and tworoom models, from scratch (about 40 min each on a 2-core CPU) --------------
# 400 training and 100 held-out episodes of 100 steps (tworoom: the door-seeking policy), 2,000 steps of the cpu
# preset, shipped into the package with the held-out states, then the LeWM-protocol evaluation with CEM and MPPI.
POLICY_reacher := held_random
POLICY_pointmass := held_random
POLICY_tworoom := door_seeking
# Only the point mass keeps a waypoint graph for far goals; reacher and two rooms reach them by their goal value
# (make values, value-eval: docs/value.md).
WAYPOINTS_pointmass := yes
.PHONY: pointmass-model tworoom-model cross-task-eval
pointmass-model tworoom-model: %-model: setup
	mkdir -p data runs
	[ -f data/$*.h5 ] || $(VENV)/bin/lewm-collect --env $* --episodes 400 --steps 100 --seed 0 \
		--policy $(POLICY_$*) --workers 1 --out data/$*.h5
	[ -f data/$*_heldout.h5 ] || $(VENV)/bin/lewm-collect --env $* --episodes 100 --steps 100 --seed 1 \
		--policy $(POLICY_$*) --workers 1 --out data/$*_heldout.h5
	OMP_WAIT_POLICY=PASSIVE $(PY) -m world_model.training.train --config experiments/configs/$*.yaml --out runs/$*_cpu \
		--threads 1 $$([ -f runs/$*_cpu/train_state.pt ] && echo --resume)
	$(VENV)/bin/lewm-ship --run runs/$*_cpu --heldout data/$*_heldout.h5 --name $*
	$(if $(WAYPOINTS_$*),$(VENV)/bin/lewm-waypoints --checkpoint world_model/checkpoints/$* --data data/$*.h5)
	$(VENV)/bin/lewm-train-proposal --checkpoint world_model/checkpoints/$* --data data/$*.h5 --steps 2000
	$(VENV)/bin/lewm-eval --env $* --suite lewm --planner cem --planner mppi --out experiments/$*/$*_eval

# The cross-task tables of the README (all three shipped models, LeWM protocol): CEM with waypoints (the
# default), and CEM and MPPI aiming straight at the goal (about 1.5 h together on a 2-core CPU).
cross-task-eval: setup
	$(VENV)/bin/lewm-eval --env reacher --env pointmass --env tworoom --suite lewm --planner cem \
		--out experiments/tasks/cross_task_waypoints
	$(VENV)/bin/lewm-eval --env reacher --env pointmass --env tworoom --suite lewm --planner cem --planner mppi \
		--no-waypoints --out experiments/tasks/cross_task

# ---- the shipped proposal policies only (about 5 min per task on a 2-core CPU) --------------------------------
# Re-collects the first episodes of each model's training data (same seed; 400 reacher, 300 point mass / two
# rooms) and trains the checkpoint's proposal.safetensors on them with the world model frozen; then the real-time
# benchmark (experiments/bench/realtime.md, about 40 min).
PROPOSAL_EPISODES_reacher := 400
PROPOSAL_EPISODES_pointmass := 300
PROPOSAL_EPISODES_tworoom := 300
.PHONY: proposals realtime-bench bench-deps reacher-proposal pointmass-proposal tworoom-proposal
reacher-proposal pointmass-proposal tworoom-proposal: %-proposal: setup
	mkdir -p data
	[ -f data/$*.h5 ] || $(VENV)/bin/lewm-collect --env $* --episodes $(PROPOSAL_EPISODES_$*) --steps 100 --seed 0 \
		--policy $(POLICY_$*) --out data/$*.h5
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lewm-train-proposal --checkpoint world_model/checkpoints/$* --data data/$*.h5 \
		--steps 2000

proposals: reacher-proposal pointmass-proposal tworoom-proposal

# ---- the shipped goal values (docs/value.md; about 10 min per task on a 2-core CPU) -----------------------------
# Collects each model's training episodes into the data folder ($$LEWM_DATA, default ~/.cache/lewm; reacher 400,
# point mass and two rooms 300, as the proposal policies') and trains value.safetensors with the world model frozen
# (lewm-train-value's defaults: TD, lower expectile 0.1, goals up to 40 blocks); then value-eval: free goals and the
# LeWM protocol without any graph, CEM and MPPI ranking plans by the value, and lewm-choose-planner writes reacher's
# and two rooms' planning.json (cost value; they ship no waypoint graph since 2026-12-07).
.PHONY: values value-eval reacher-value pointmass-value tworoom-value
values: reacher-value pointmass-value tworoom-value
# The point mass's value also learns from 300 longer episodes (300 steps, actions held up to 60 steps): the
# model's own 100-step episodes rarely travel over 0.3 m, and with them alone it reached 22/50 free goals, 45/50
# with these (9 min to collect).
VALUE_DATA_pointmass := $(LEWM_DATA)/easy/pointmass_long_s20.h5
reacher-value pointmass-value tworoom-value: %-value: setup
	mkdir -p $(LEWM_DATA)/easy
	[ -f $(LEWM_DATA)/easy/$*.h5 ] || $(VENV)/bin/lewm-collect --env $* --episodes $(PROPOSAL_EPISODES_$*) --steps 100 \
		--seed 0 --policy $(POLICY_$*) --workers 1 --out $(LEWM_DATA)/easy/$*.h5
	$(if $(VALUE_DATA_$*),[ -f $(VALUE_DATA_$*) ] || $(VENV)/bin/lewm-collect --env $* --episodes 300 --steps 300 \
		--seed 20 --max-hold 60 --workers 2 --out $(VALUE_DATA_$*))
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lewm-train-value --checkpoint world_model/checkpoints/$* \
		--data $(LEWM_DATA)/easy/$*.h5 $(VALUE_DATA_$*)

value-eval: setup
	for task in reacher tworoom; do for planner in cem mppi; do $(VENV)/bin/lewm-eval --env $$task --suite free \
		--suite lewm --no-waypoints --planner $$planner --cost value --out experiments/value/$${task}_nograph_$$(test \
		$$planner = cem && echo cem_)value_tau01 || exit 1; done; done
	$(VENV)/bin/lewm-choose-planner --checkpoint world_model/checkpoints/reacher --setting cost=value \
		--setting horizon=3 --setting num_samples=32 experiments/value/reacher_nograph_*value_tau01/results.json
	# two rooms plan 3 blocks ahead with 32 samples, as reacher: the same success at under 50 ms a replan
	for planner in cem mppi; do $(VENV)/bin/lewm-eval --env tworoom --suite free --suite lewm --no-waypoints \
		--planner $$planner --cost value --horizon 3 --samples 32 --out experiments/value/tworoom_nograph_$$(test \
		$$planner = cem && echo cem_)value_h3s32 || exit 1; done
	$(VENV)/bin/lewm-choose-planner --checkpoint world_model/checkpoints/tworoom --setting cost=value \
		--setting horizon=3 --setting num_samples=32 experiments/value/tworoom_nograph_*value_h3s32/results.json
	$(VENV)/bin/lewm-eval --env pointmass --suite free --no-waypoints --seed 1 --cost value \
		--out experiments/value/pointmass_free_nograph_value_long

# The planner each easy task's checkpoint uses by default (about 25 min): the proposal policy alone against MPPI +
# proposal on both suites (reacher and point mass keep MPPI: their policies alone lose success). Since 2026-12-07
# value-eval writes reacher's and two rooms' planning.json. Rerun after rebuilding a model: shipping one clears it.
.PHONY: planner-choice
planner-choice: setup
	$(VENV)/bin/lewm-eval --env reacher --env pointmass --env tworoom --planner proposal --no-progress \
		--out experiments/tasks/follow_easy_tasks
	$(VENV)/bin/lewm-eval --env tworoom --planner mppi --no-progress --out experiments/tworoom/tworoom_mppi_default

realtime-bench: setup bench-deps
	bash experiments/bench/realtime_bench.sh

# stable-worldmodel 0.1.1, the baseline of experiments/bench/bench_planning.py (its solvers only: no dependencies)
bench-deps: setup
	$(PIP) install -q --no-deps stable-worldmodel==0.1.1 einops

# $(call finetune_shipped,NAME,COMMIT,CONFIG,SHARDS,RUN,HELDOUT): the shipped NAME model as git COMMIT holds it,
# fine-tuned on SHARDS with CONFIG into $$LEWM_DATA/runs/RUN (resumed if a run is there; 1 thread), then shipped as
# NAME with HELDOUT's states. The cube and Push-T models are made so.
define finetune_shipped
	mkdir -p $(LEWM_DATA)/runs/$(1)_previous
	git archive $(2) world_model/checkpoints/$(1) | tar -x --strip-components=3 -C $(LEWM_DATA)/runs/$(1)_previous
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lewm-train --config $(3) --init $(LEWM_DATA)/runs/$(1)_previous \
		--data $(strip $(4)) --threads 1 --out $(LEWM_DATA)/runs/$(5) \
		$$([ -f $(LEWM_DATA)/runs/$(5)/train_state.pt ] && echo --resume)
	$(VENV)/bin/lewm-ship --run $(LEWM_DATA)/runs/$(5) --heldout $(strip $(6)) --name $(1)
endef

# ---- the pusht model (about 2.5 h on a 2-core CPU once the data is there) ----------------------------------------
# gym-pusht under lewm/PushT-v0. First model: 3,000 training and 100 held-out episodes of 200 steps of the scripted
# push policy, 8,000 steps of the cpu preset with the spatial-softmax keypoint encoder, the pixel decoder and a
# training-only linear readout of the recorded state (state_lambda), shipped before 2026-12-07 16:00 and read out of
# git history here (PUSHT_PREVIOUS; pusht-model-first rebuilds it from scratch, about 2 h). The shipped model is it
# fine-tuned on the collection plan experiments/configs/pusht_data.yaml (make pusht-data: push and push_turn, half
# and half, into $$LEWM_DATA/pusht), shipped with its held-out states, a proposal policy and a goal value; then
# make pusht-eval (experiments/pusht/pusht.md, sections 8, 10, 11 and 12).
PUSHT_PREVIOUS := da9aad6
PUSHT_SHARDS := $(LEWM_DATA)/pusht/push_s100.h5 $(LEWM_DATA)/pusht/push_s101.h5 \
	$(LEWM_DATA)/pusht/push_turn_s200.h5 $(LEWM_DATA)/pusht/push_turn_s201.h5
PUSHT_EVAL := $(VENV)/bin/lewm-eval --env pusht --episodes 50 --no-waypoints --noise-corr 0 --cost min
PUSHT_RECORDS := experiments/pusht/pusht_eval
.PHONY: pusht-data pusht-model pusht-model-first pusht-eval
pusht-data: setup
	$(VENV)/bin/lewm-collect --plan experiments/configs/pusht_data.yaml --out $(LEWM_DATA)/pusht
	[ -f $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5 ] || { mkdir -p $(LEWM_DATA)/pusht_eval && \
		$(VENV)/bin/lewm-collect --env pusht --policy push_fast --episodes 50 --steps 200 --seed 7 --workers 1 \
		--out $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5; }
	[ -f $(LEWM_DATA)/pusht_eval/heldout_push_turn_s8.h5 ] || $(VENV)/bin/lewm-collect --env pusht --policy push_turn \
		--episodes 50 --steps 200 --seed 8 --workers 1 --out $(LEWM_DATA)/pusht_eval/heldout_push_turn_s8.h5

pusht-model: pusht-data
	$(call finetune_shipped,pusht,$(PUSHT_PREVIOUS),experiments/configs/pusht_mixed.yaml,$(PUSHT_SHARDS),pusht_mixed,\
		$(LEWM_DATA)/pusht/heldout_push_s1.h5)
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lewm-train-proposal --checkpoint world_model/checkpoints/pusht \
		--data $(PUSHT_SHARDS)
	# the recipe before the defaults moved to expectile 0.1: on Push-T the newer one measured worse (docs/value.md)
	$(VENV)/bin/lewm-train-value --checkpoint world_model/checkpoints/pusht --data $(PUSHT_SHARDS) \
		--tau 0.3 --steps 16000 --polyak 0.005
	# the state probe of the readout costs (value_readout): 40,200 frames of two fresh seeds, about 5 min
	for p in push_turn:300 push:301; do f=$(LEWM_DATA)/pusht_probe/$${p%%:*}_s$${p##*:}.h5; [ -f $$f ] || \
		$(VENV)/bin/lewm-collect --env pusht --policy $${p%%:*} --episodes 100 --steps 200 --seed $${p##*:} \
		--workers 1 --out $$f || exit 1; done
	$(VENV)/bin/lewm-train-probe --checkpoint world_model/checkpoints/pusht \
		--data $(LEWM_DATA)/pusht_probe/push_turn_s300.h5 $(LEWM_DATA)/pusht_probe/push_s301.h5
	$(MAKE) pusht-eval

# The first model, from scratch (about 2 h): 603,000 frames of the push policy. pusht-model starts from the copy
# in git history; to start from this one instead, pass its runs/pusht_state3k/model to lewm-train --init.
pusht-model-first: setup
	mkdir -p data runs
	[ -f data/pusht3k.h5 ] || $(VENV)/bin/lewm-collect --env pusht --policy push --episodes 3000 --steps 200 \
		--seed 0 --out data/pusht3k.h5
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lewm-train --config experiments/configs/pusht_state3k.yaml \
		--data data/pusht3k.h5 --out runs/pusht_state3k --threads 2 \
		$$([ -f runs/pusht_state3k/train_state.pt ] && echo --resume)

# The records it writes (mixed_*, unseen_fast_mixed*) were first made with the 2,000-step proposal policy; the
# committed figures of the shipped agent (8,000-step proposal, 16,000-step value) are value16k_*
# (experiments/pusht/pusht.md, section 15).
pusht-eval: setup
	for seed in 0 1 2 3 4; do for planner in mppi cem; do \
		$(PUSHT_EVAL) --planner $$planner --suite lewm --seed $$seed \
		--out $(PUSHT_RECORDS)/mixed_$$(test $$planner = cem && echo cem_)min_seed$$seed || exit 1; done; done
	$(PUSHT_EVAL) --planner mppi --suite free --out $(PUSHT_RECORDS)/mixed_task_min
	$(PUSHT_EVAL) --planner cem --suite free --out $(PUSHT_RECORDS)/mixed_cem_task_min
	$(PUSHT_EVAL) --planner mppi --suite lewm --nontrivial --seed 0 \
		--eval-data $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5 --out $(PUSHT_RECORDS)/unseen_fast_mixed
	$(PUSHT_EVAL) --planner cem --suite lewm --nontrivial --seed 0 \
		--eval-data $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5 --out $(PUSHT_RECORDS)/unseen_fast_mixed_cem
	for seed in 0 1 2 3 4; do for planner in mppi cem; do \
		$(PUSHT_EVAL) --planner $$planner --suite lewm --seed $$seed --cost value_readout \
		--out $(PUSHT_RECORDS)/mixed_$$(test $$planner = cem && echo cem_)value_readout_seed$$seed || exit 1; done; done
	$(PUSHT_EVAL) --planner mppi --suite free --cost value_readout --out $(PUSHT_RECORDS)/mixed_task_value_readout
	$(PUSHT_EVAL) --planner cem --suite free --cost value_readout --out $(PUSHT_RECORDS)/mixed_cem_task_value_readout
	$(PUSHT_EVAL) --planner mppi --suite lewm --nontrivial --seed 0 --cost value_readout \
		--eval-data $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5 --out $(PUSHT_RECORDS)/unseen_fast_mixed_value_readout
	$(PUSHT_EVAL) --planner cem --suite lewm --nontrivial --seed 0 --cost value_readout \
		--eval-data $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5 --out $(PUSHT_RECORDS)/unseen_fast_mixed_cem_value_readout
	# value_readout (value_far where the success test reads every entry; the block alone, through the state probe, on
	# the Push-T task) beat min and value_far (docs/value.md): the planner is chosen among its runs
	$(VENV)/bin/lewm-choose-planner --checkpoint world_model/checkpoints/pusht --setting substep_correlation=0 \
		--setting cost=value_readout $(PUSHT_RECORDS)/mixed_*value_readout_seed*/results.json \
		$(PUSHT_RECORDS)/mixed_*task_value_readout/results.json $(PUSHT_RECORDS)/unseen_fast_mixed*value_readout/results.json
	$(PUSHT_EVAL) --planner mppi --suite lewm --nontrivial --seed 0 \
		--eval-data $(LEWM_DATA)/pusht_eval/heldout_push_turn_s8.h5 --out $(PUSHT_RECORDS)/turn_pairs_mixed
	for seed in 0 1; do $(PUSHT_EVAL) --planner mppi --suite lewm --seed $$seed --cost value \
		--out $(PUSHT_RECORDS)/mixed_value_seed$$seed || exit 1; done
	$(PUSHT_EVAL) --planner mppi --suite free --cost value --out $(PUSHT_RECORDS)/mixed_task_value
	$(PUSHT_EVAL) --planner mppi --suite lewm --nontrivial --seed 0 --cost value \
		--eval-data $(LEWM_DATA)/pusht_eval/unseen_push_fast_s7.h5 --out $(PUSHT_RECORDS)/unseen_fast_mixed_value

# ---- the shipped cube model (about 2 h on a 2-core CPU once the data is there) ----------------------------------
# OGBench's single cube under lewm/Cube-v0, in its one look. The collection plan's shards (make cube-data: 9.2 ms a
# frame with 2 workers), then 6,000 steps of experiments/configs/cube_scale.yaml on 10 of them (501,000 frames),
# fine-tuned from the model shipped before 2026-12-07 14:35 (read out of git history) with the state readout on;
# shipped with the held-out shard's states, a proposal policy, a goal value and the value subgoals' frames; then the
# evaluations of world_model/checkpoints/cube/README.md. Data and runs live in $$LEWM_DATA (outside the checkout).
CUBE_SHARDS := $(foreach s,1000 1001 1002 1003 1004 1005 1006 1007,$(LEWM_DATA)/cube/oracle_s$(s).h5) \
	$(LEWM_DATA)/cube/oracle_wide_s2000.h5 $(LEWM_DATA)/cube/oracle_wide_s2001.h5
# the value-guided high level's frames (--subgoals value): every 5th frame of whole episodes of five shards, 20,000
CUBE_FRAMES := $(foreach s,1002 1003 1004 1005 1006,$(LEWM_DATA)/cube/oracle_s$(s).h5)
CUBE_SMALL := $(LEWM_DATA)/cube/oracle_s1000.h5 $(LEWM_DATA)/cube/oracle_s1001.h5 $(LEWM_DATA)/cube/oracle_wide_s2000.h5
CUBE_PREVIOUS := 5855a31
CUBE_EVAL := $(VENV)/bin/lewm-eval --env cube --checkpoint world_model/checkpoints/cube --max-envs 25
CUBE_RECORDS := experiments/cube/cube_eval
.PHONY: cube-model cube-eval
cube-model: cube-data
	$(call finetune_shipped,cube,$(CUBE_PREVIOUS),experiments/configs/cube_scale.yaml,$(CUBE_SHARDS),cube_scale,\
		$(LEWM_DATA)/cube/heldout_oracle_s1.h5)
	$(VENV)/bin/lewm-train-proposal --checkpoint world_model/checkpoints/cube --data $(CUBE_SMALL) --dropout 0.1
	$(VENV)/bin/lewm-train-value --checkpoint world_model/checkpoints/cube --data $(CUBE_SMALL) --estimator td \
		--max-goal-blocks 40
	$(VENV)/bin/lewm-subgoal-frames --checkpoint world_model/checkpoints/cube --data $(CUBE_FRAMES) \
		--max-frames 20000 --reach 2 --far 10
	$(MAKE) cube-eval

# The LeWM protocol on the held-out shard's non-trivial pairs (the proposal policy and MPPI ranked by the goal
# value, both with the value subgoals, which only far goals engage); the better becomes the checkpoint's default
# (planning.json, with subgoals=value). Then pairs from a data policy the model never saw (OGBench's Markov oracle,
# seed 7), and OGBench's five tasks (the free suite, seeds 0-4), with the default agent.
cube-eval: setup
	[ -f $(LEWM_DATA)/cube_eval/unseen_markov_s7.h5 ] || $(VENV)/bin/lewm-collect --env cube --policy oracle_markov \
		--episodes 50 --steps 100 --seed 7 --workers 1 --out $(LEWM_DATA)/cube_eval/unseen_markov_s7.h5
	$(CUBE_EVAL) --episodes 50 --suite lewm --nontrivial --planner proposal --subgoals value \
		--eval-data $(LEWM_DATA)/cube/heldout_oracle_s1.h5 --out $(CUBE_RECORDS)/prop8k_d01_lewm
	$(CUBE_EVAL) --episodes 50 --suite lewm --nontrivial --planner mppi --cost value --subgoals value \
		--eval-data $(LEWM_DATA)/cube/heldout_oracle_s1.h5 --out $(CUBE_RECORDS)/vsub_lewm_mppi_value
	$(VENV)/bin/lewm-choose-planner --checkpoint world_model/checkpoints/cube --setting subgoals=value \
		$(CUBE_RECORDS)/prop8k_d01_lewm/results.json $(CUBE_RECORDS)/vsub_lewm_mppi_value/results.json
	$(CUBE_EVAL) --episodes 50 --suite lewm --nontrivial \
		--eval-data $(LEWM_DATA)/cube_eval/unseen_markov_s7.h5 --out $(CUBE_RECORDS)/prop8k_d01_markov
	for seed in 0 1 2 3 4; do $(CUBE_EVAL) --episodes 25 --suite free --seed $$seed \
		--out $(CUBE_RECORDS)/prop8k_d01_ogbench_seed$$seed || exit 1; done

# ---- the cube's data at OGBench's scale (resumable, outside the checkout) ---------------------------------------
# experiments/configs/cube_data.yaml: 20 shards of 100 episodes x 500 steps (1 M frames) of OGBench's pick-and-place
# oracle at its play noise (16 shards) and at three times that noise (4), plus a held-out shard, in lewm/Cube-v0's
# look, into $$LEWM_DATA/cube (default ~/.cache/lewm/cube). Rerun to resume: manifest.json there says what is done.
.PHONY: cube-data
cube-data: setup
	$(VENV)/bin/lewm-collect --plan experiments/configs/cube_data.yaml --out $(LEWM_DATA)/cube

# ---- your own environment: gymnasium's MuJoCo Reacher-v5, collect -> train -> evaluate (about 35 min here) -----
# A third-party env through envs.gym_task.GymTaskEnv: pixels from render() with a top-down camera (the default
# one shows the arm 8 px long at 64 px) and the target dot hidden (a static distractor the world model learned
# instead of the arm: experiments/reacher/reacher_v5.md), held-random torques at 0.15 of the box, success by state
# match (both joints within 0.05 rad, wrapped; the target's coordinates do not move within an episode).
R5_CAMERA := {"xml_file": "./experiments/configs/reacher_v5_hidden_target.xml", \
	"default_camera_config": {"distance": 0.6, "elevation": -90.0, "azimuth": 90.0, "lookat": [0.0, 0.0, 0.0]}}
R5_COLLECT := $(VENV)/bin/lewm-collect --env Reacher-v5 --env-kwargs '$(R5_CAMERA)' --angle-qpos 0,1 \
	--action-scale 0.15 --steps 100
.PHONY: reacher-v5
reacher-v5: setup
	mkdir -p data runs
	[ -f data/reacher5.h5 ] || $(R5_COLLECT) --episodes 600 --seed 0 --out data/reacher5.h5
	[ -f data/reacher5_heldout.h5 ] || $(R5_COLLECT) --episodes 100 --seed 1 --out data/reacher5_heldout.h5
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lewm-train --config experiments/configs/gym_reacher_v5.yaml \
		--data data/reacher5.h5 --out runs/reacher5 $$([ -f runs/reacher5/train_state.pt ] && echo --resume)
	$(VENV)/bin/lewm-waypoints --checkpoint runs/reacher5/model --data data/reacher5.h5
	$(VENV)/bin/lewm-eval --env Reacher-v5 --checkpoint runs/reacher5/model --eval-data data/reacher5_heldout.h5 \
		--suite lewm --planner cem --episodes 50 --no-waypoints --out experiments/reacher/reacher_v5/straight
	$(VENV)/bin/lewm-eval --env Reacher-v5 --checkpoint runs/reacher5/model --eval-data data/reacher5_heldout.h5 \
		--suite lewm --planner cem --episodes 50 --out experiments/reacher/reacher_v5/waypoints
