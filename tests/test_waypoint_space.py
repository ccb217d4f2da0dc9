"""Waypoint graphs that measure distances in a state space read off the embeddings (``agent.waypoint_space``)."""
import numpy as np
import pytest
import torch
from conftest import tiny_config

from agent.waypoint_space import state_space
from agent.waypoints import FILE_NAME, WaypointGraph, build_waypoints
from world_model import LeWM

# Four 2-D "embeddings": dimension 0 (an arm) spans the latent; dimension 1 (a cube beside it) takes a small share of
# it, but is all the state space sees, scaled to unit spread.
NODES = torch.tensor([[0.0, 0.0], [0.0, 0.1], [5.0, 0.0], [5.0, 0.1]])
EPISODE = np.array([0, 1, 2, 3])  # no data transitions: only neighbours link
STATE = (np.array([[0.0], [10.0]], np.float32), np.array([0.0], np.float32))  # w (D=2, K=1), b (K,)


def test_the_space_decides_who_are_neighbours_and_targets_stay_embeddings():
    latent = WaypointGraph(NODES, EPISODE, link=0.01, reach=0.5)
    state = WaypointGraph(NODES, EPISODE, link=0.01, reach=0.5, space=STATE)
    # latent: 0-1 and 2-3 (the arm in place, the cube moved "for free"); state: 0-2 and 1-3 (the cube in place)
    assert latent.edges == 2 and latent.graph[0, 1] > 0 and latent.graph[2, 3] > 0
    assert state.edges == 2 and state.graph[0, 2] > 0 and state.graph[1, 3] > 0
    assert state.keys.shape == (4, 1)
    assert np.isinf(state.distance_to_goal(NODES[3])[0]) and np.isfinite(latent.distance_to_goal(NODES[1])[0])
    target = state.subgoals(torch.tensor([[0.0, 0.0]]), torch.tensor([[5.0, 0.0]]))
    assert torch.equal(target[0], NODES[2]) or torch.equal(target[0], torch.tensor([5.0, 0.0]))


def test_the_space_survives_save_and_load(tmp_path):
    graph = WaypointGraph(NODES, EPISODE, link=0.01, reach=0.5, space=STATE)
    graph.save(tmp_path / FILE_NAME)
    loaded = WaypointGraph.load(tmp_path)
    assert loaded.edges == graph.edges and torch.equal(loaded.space[0], graph.space[0])
    assert WaypointGraph.load(_saved(tmp_path / "plain", WaypointGraph(NODES, EPISODE, 0.01, 0.5))).space is None


def _saved(folder, graph):
    folder.mkdir()
    graph.save(folder / FILE_NAME)
    return folder


def test_a_space_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        WaypointGraph(NODES, EPISODE, space=(np.zeros((3, 1)), np.zeros(1)))


def test_the_fitted_map_keeps_only_what_the_embeddings_hold():
    rng = np.random.default_rng(0)
    nodes = torch.from_numpy(rng.normal(size=(400, 32)).astype(np.float32))
    held = 2.0 * nodes[:, 0].numpy() + 0.05 * rng.normal(size=400)  # read off dimension 0
    noise = rng.normal(size=400)  # in no embedding
    model = LeWM(tiny_config(task="tworoom", angle_qpos=[]))
    w, b, names, r2 = state_space(model, nodes, np.stack([held, noise], 1), np.arange(400) // 10)
    assert names == ["qpos0"] and w.shape == (32, 1) and r2[0] > 0.95
    z_scored = (held - held.mean()) / held.std()
    assert np.corrcoef(nodes.numpy() @ w[:, 0] + b[0], z_scored)[0, 1] > 0.99
    with pytest.raises(ValueError, match="R\\^2"):
        state_space(model, nodes, noise[:, None], np.arange(400) // 10)


def test_a_model_with_a_readout_uses_its_own():
    model = LeWM(tiny_config(task="tworoom", angle_qpos=[], state_lambda=1.0, state_mean=[0.0, 0.0],
                             state_std=[1.0, 1.0]))
    w, b, names, r2 = state_space(model, torch.zeros(4, 32), np.zeros((4, 2)), np.arange(4))
    assert np.allclose(w, model.state_head.readout.weight.detach().numpy().T) and names == ["qpos0", "qpos1"]
    assert np.isnan(r2).all()


def test_build_in_state_space_from_a_real_dataset(tiny_tworoom_h5, tiny_tworoom_checkpoint):
    model = LeWM.load(tiny_tworoom_checkpoint)
    try:
        graph = build_waypoints(model, tiny_tworoom_h5, link=0.01, reach=0.02, progress=False, space="state")
    except ValueError as exc:  # an untrained tiny model may hold no state at all: then the error must say so
        assert "R^2" in str(exc)
        return
    assert graph.space is not None and graph.keys.shape[0] == len(graph.episode)
    with pytest.raises(ValueError, match="space"):
        build_waypoints(model, tiny_tworoom_h5, space="pixels")
