"""Waypoint graph: routes along the data around an obstacle, hands over to the goal within reach, files, agent."""
import numpy as np
import pytest
import torch
from conftest import tiny_config

from agent.agent import make_agent
from agent.waypoints import FILE_NAME, WaypointGraph, build_waypoints, normalised_sq_distance
from world_model import LeWM

# A U-shaped corridor in a 2-D "embedding" (D = 2, so a normalised distance of d is a Euclidean one of 2 sqrt(d)):
# up the left side x = 0, across the top y = 10, down the right side x = 4. The straight line from the bottom-left
# to the bottom-right corner crosses a wall the data never crossed.
LEFT = [(0.0, y) for y in np.arange(0, 10.5, 0.5)]
TOP = [(x, 10.0) for x in np.arange(0.5, 4.0, 0.5)]
RIGHT = [(4.0, y) for y in np.arange(10, -0.5, -0.5)]
LINK, REACH = 0.07, 0.6  # link: neighbours 0.5 apart (d = 0.0625); reach: within ~1.55 of the agent


def corridor_graph(split_episodes=False) -> WaypointGraph:
    points = torch.tensor(LEFT + TOP + RIGHT, dtype=torch.float32)
    episode = np.zeros(len(points), dtype=int)
    if split_episodes:  # three episodes: linked to each other only by latent proximity
        episode[len(LEFT):] = 1
        episode[len(LEFT) + len(TOP):] = 2
    return WaypointGraph(points, episode, link=LINK, reach=REACH)


@pytest.mark.parametrize("split_episodes", [False, True])
def test_subgoal_follows_the_data_around_the_wall(split_episodes):
    graph = corridor_graph(split_episodes)
    start, goal = torch.tensor([[0.0, 0.0]]), torch.tensor([[4.0, 0.0]])
    target = graph.subgoals(start, goal)[0]
    assert target[0] == 0.0 and target[1] > 1.0  # up the left side, the farthest node still within reach
    assert normalised_sq_distance(start, target[None]).item() < REACH
    # Walking the targets leads around the corridor to the goal.
    here, visited = start, []
    for _ in range(30):
        here = graph.subgoals(here, goal)
        visited.append(tuple(here[0].tolist()))
        if torch.equal(here, goal):
            break
    assert torch.equal(here, goal)
    assert any(y == 10.0 for _, y in visited)  # it went over the top


def test_goal_within_reach_is_aimed_at_directly():
    graph = corridor_graph()
    here, goal = torch.tensor([[4.0, 1.0]]), torch.tensor([[4.0, 0.0]])
    assert torch.equal(graph.subgoals(here, goal), goal)


def test_no_node_within_reach_falls_back_to_the_goal():
    graph = corridor_graph()
    here, goal = torch.tensor([[50.0, 50.0]]), torch.tensor([[4.0, 0.0]])
    assert torch.equal(graph.subgoals(here, goal), goal)


def test_batch_of_envs_and_one_shared_goal():
    graph = corridor_graph()
    here = torch.tensor([[0.0, 0.0], [4.0, 1.0]])
    targets = graph.subgoals(here, torch.tensor([[4.0, 0.0]]))
    assert targets.shape == (2, 2)
    assert targets[0, 0] == 0.0 and torch.equal(targets[1], torch.tensor([4.0, 0.0]))


def test_distance_to_goal_is_cached_per_goal():
    graph = corridor_graph()
    goal = torch.tensor([4.0, 0.0])
    first = graph.distance_to_goal(goal)
    assert graph.distance_to_goal(goal) is first
    assert first[0] > first[len(LEFT)] > first[-1]  # farther along the corridor is farther from the goal


def test_bad_radii_and_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="link < reach"):
        WaypointGraph(torch.zeros(3, 2), np.zeros(3), link=0.5, reach=0.1)
    with pytest.raises(ValueError, match="one episode id per node"):
        WaypointGraph(torch.zeros(3, 2), np.zeros(2))


def test_save_load_round_trip(tmp_path):
    graph = corridor_graph(split_episodes=True)
    graph.save(tmp_path / FILE_NAME)
    loaded = WaypointGraph.load(tmp_path)
    assert (loaded.link, loaded.reach, loaded.edges) == (graph.link, graph.reach, graph.edges)
    np.testing.assert_array_equal(loaded.episode, graph.episode)
    torch.testing.assert_close(loaded.nodes, graph.nodes)


# Two one-way trajectories one unit between nodes (d = 0.125 > LINK: no link inside them): up x = 0, then, starting
# 0.2 from its end (linked), right along y = 5. A directed graph may follow them forwards only.
UP = [(0.0, float(y)) for y in range(6)]
ACROSS = [(0.2 + x, 5.0) for x in range(6)]


def one_way_graph(lead=2) -> WaypointGraph:
    points = torch.tensor(UP + ACROSS, dtype=torch.float32)
    episode = np.repeat([0, 1], [len(UP), len(ACROSS)])
    return WaypointGraph(points, episode, link=LINK, reach=0.2, directed=True, lead=lead)


def test_directed_path_aims_lead_hops_ahead_and_crosses_the_link():
    graph = one_way_graph(lead=2)
    goal = torch.tensor([[5.2, 5.0]])
    assert torch.equal(graph.subgoals(torch.tensor([[0.1, 0.0]]), goal)[0], torch.tensor([0.0, 2.0]))
    # from the corner the path goes through the link onto the second trajectory: one hop to (0.2, 5), one more
    assert torch.equal(graph.subgoals(torch.tensor([[0.0, 5.0]]), goal)[0], torch.tensor([1.2, 5.0]))
    # near the end the path runs out: the goal itself
    assert torch.equal(graph.subgoals(torch.tensor([[4.2, 5.0]]), goal), goal)


def test_directed_graph_never_runs_the_data_backwards():
    back = torch.tensor([[0.0, 0.0]])  # the start of the first trajectory, reached by no data move
    directed = one_way_graph(lead=1)
    assert torch.equal(directed.subgoals(torch.tensor([[5.2, 5.0]]), back), back)  # no path: the goal itself
    assert not np.isfinite(directed.distance_to_goal(back[0])[-1])
    undirected = WaypointGraph(directed.nodes, directed.episode, link=LINK, reach=0.2)
    assert np.isfinite(undirected.distance_to_goal(back[0])[-1])



# One-way recordings for the goal's entry: A runs along y = 0.3 to (5, 0.3); B *starts* nearest the goal (5, 1)
# and runs away from it, so nothing leads to its first frame; C is a dead end beside A. No node lies within LINK
# of the goal; A's last node is within LINK of the nearest node's distance.
A = [(float(x), 0.3) for x in range(6)]
B = [(5.0, 1.6), (5.0, 2.6), (5.0, 3.6)]
C = [(2.0, 1.0), (2.0, 2.0)]
ENTRY_GOAL = torch.tensor([[5.0, 1.0]])


def entry_graph() -> WaypointGraph:
    points = torch.tensor(A + B + C, dtype=torch.float32)
    episode = np.repeat([0, 1, 2], [len(A), len(B), len(C)])
    return WaypointGraph(points, episode, link=LINK, reach=0.2, directed=True, lead=1)


def test_the_goal_enters_at_every_node_about_as_near_as_the_nearest():
    graph = entry_graph()
    assert graph.distance_to_goal(ENTRY_GOAL[0])[0] < np.inf  # through A's last node, not only B's first
    assert torch.equal(graph.subgoals(torch.tensor([[0.0, 0.3]]), ENTRY_GOAL)[0], torch.tensor([1.0, 0.3]))


def test_an_undirected_graph_keeps_the_goal_entering_within_link_at_the_nearest_cost():
    # P and R lie within LINK of the goal at the origin; Q lies beyond LINK but within LINK of P's distance, and
    # is linked to neither. Every node of an undirected graph is reached from its neighbours: only P and R enter,
    # both at P's cost (measured: the directed rule cost reacher 4/50).
    points = torch.tensor([(0.2, 0.0), (0.3, 0.1), (0.0, 0.55)])
    graph = WaypointGraph(points, np.array([0, 0, 1]), link=LINK, reach=REACH)
    hops = graph.distance_to_goal(torch.zeros(2))
    nearest = 0.2**2 / 4 / LINK
    np.testing.assert_allclose(hops[:2], [nearest, nearest], rtol=1e-5)
    assert hops[2] == np.inf


def test_a_frame_nearest_a_dead_end_is_matched_to_the_nearest_node_with_a_way_to_the_goal():
    graph = entry_graph()
    assert not np.isfinite(graph.distance_to_goal(ENTRY_GOAL[0])[len(A) + len(B) + 1])  # C's last node
    assert torch.equal(graph.subgoals(torch.tensor([[2.0, 2.1]]), ENTRY_GOAL)[0], torch.tensor([3.0, 0.3]))


# Two recordings from (0, 0) to x = 6: P in six blocks, Q (beginning beside P's second node) in two.
P = [(float(x), 0.0) for x in range(7)]
Q = [(1.0, 0.2), (3.5, 0.3), (6.0, 0.2)]


@pytest.mark.parametrize("link_cost, expected", [(1.0, (1.0, 0.2)), (4.0, (2.0, 0.0))])
def test_link_cost_decides_between_switching_recordings_and_keeping_to_one(link_cost, expected):
    points = torch.tensor(P + Q, dtype=torch.float32)
    graph = WaypointGraph(points, np.repeat([0, 1], [len(P), len(Q)]), link=LINK, reach=0.2, directed=True,
                          lead=2, link_cost=link_cost)
    target = graph.subgoals(torch.tensor([[0.0, 0.0]]), torch.tensor([[6.0, 0.1]]))[0]
    assert torch.equal(target, torch.tensor(expected))


def test_link_cost_survives_the_file_and_needs_a_directed_graph(tmp_path):
    with pytest.raises(ValueError, match="link_cost"):
        WaypointGraph(torch.zeros(3, 2), np.zeros(3), link_cost=2.0)
    with pytest.raises(ValueError, match="link_cost"):
        WaypointGraph(torch.zeros(3, 2), np.zeros(3), directed=True, link_cost=0.0)
    entry_graph().save(tmp_path / FILE_NAME)
    assert WaypointGraph.load(tmp_path).link_cost == 1.0
    assert WaypointGraph.load(tmp_path, link_cost=3.0).link_cost == 3.0

# A second one-way trajectory that starts beside the first one's second node (nearer to a frame there than the
# first's own nodes) and goes round to the goal: tracking keeps to the first, matching anew jumps to it.
DETOUR = [(1.5, 0.3), (1.5, 3.0), (5.0, 3.0), (5.0, 0.1)]
LINE = [(float(x), 0.0) for x in range(6)]


def crossing_graph(track: bool) -> WaypointGraph:
    points = torch.tensor(LINE + DETOUR, dtype=torch.float32)
    episode = np.repeat([0, 1], [len(LINE), len(DETOUR)])
    return WaypointGraph(points, episode, link=LINK, reach=0.2, directed=True, lead=1, track=track)


@pytest.mark.parametrize("track", [True, False])
def test_tracking_keeps_to_the_path_it_matched(track):
    graph, goal = crossing_graph(track), torch.tensor([[5.0, 0.0]])
    assert torch.equal(graph.subgoals(torch.tensor([[0.0, 0.0]]), goal)[0], torch.tensor([1.0, 0.0]))
    beside = torch.tensor([[1.45, 0.3]])  # nearest node: the detour's first; on the line: (1, 0), 0.07 further
    expected = torch.tensor([2.0, 0.0]) if track else torch.tensor([1.5, 3.0])
    assert torch.equal(graph.subgoals(beside, goal)[0], expected)
    graph.reset()  # a new episode: matched anew
    assert torch.equal(graph.subgoals(beside, goal)[0], torch.tensor([1.5, 3.0]))
    # far from the tracked path (beyond reach): matched anew
    assert torch.equal(graph.subgoals(torch.tensor([[5.0, 3.0]]), goal)[0], torch.tensor([5.0, 0.1]))


def test_lead_needs_a_directed_graph_and_survives_the_file(tmp_path):
    with pytest.raises(ValueError, match="directed"):
        WaypointGraph(torch.zeros(3, 2), np.zeros(3), lead=2)
    with pytest.raises(ValueError, match="lead > 0"):
        WaypointGraph(torch.zeros(3, 2), np.zeros(3), directed=True, track=True)
    graph = crossing_graph(track=True)
    graph.save(tmp_path / FILE_NAME)
    loaded = WaypointGraph.load(tmp_path)
    assert (loaded.directed, loaded.lead, loaded.track, loaded.edges) == (True, 1, True, graph.edges)


def test_agent_plans_towards_waypoints_from_a_real_dataset(tiny_reacher_h5, tiny_checkpoint, tmp_path):
    """End to end on real collected frames: build, ship beside the checkpoint, load with waypoints=True, act."""
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    model = LeWM.load(folder)
    graph = build_waypoints(model, tiny_reacher_h5, link=0.01, reach=0.02, progress=False)
    assert len(graph.episode) > 0 and graph.edges >= len(graph.episode) - len(set(graph.episode.tolist()))
    graph.save(folder / FILE_NAME)
    agent = make_agent(str(folder), planner="cem", num_samples=8, n_iters=1, horizon=2)  # "auto": the file is there
    assert agent.waypoints is not None
    assert make_agent(str(folder), waypoints=False).waypoints is None
    assert make_agent(str(tiny_checkpoint)).waypoints is None  # "auto" without a file: straight at the goal
    import h5py

    with h5py.File(tiny_reacher_h5) as f:
        first, last = f["pixels"][0], f["pixels"][int(f["ep_len"][0]) - 1]
    agent.set_goal(last)
    action = agent.act(first)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)
    assert agent._target is not None and agent._target.shape == (1, tiny_config().embed_dim)
    agent.waypoints._last["a goal"] = 3  # what a tracking graph remembers of an episode
    agent.reset()
    assert not agent.waypoints._last
    with pytest.raises(ValueError, match="no waypoint file"):
        make_agent(str(tiny_checkpoint), waypoints=True)


def test_lewm_waypoints_writes_a_directed_graph_under_its_own_name(tiny_reacher_h5, tiny_checkpoint, tmp_path,
                                                                    capsys):
    """lewm-waypoints --directed --lead --out: the graph file named, the checkpoint left alone."""
    import shutil

    from agent.cli_waypoints import main

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    out = tmp_path / "waypoints_directed.npz"
    assert main(["--checkpoint", str(folder), "--data", str(tiny_reacher_h5), "--link", "0.01", "--reach", "0.02",
                 "--directed", "--lead", "2", "--out", str(out), "--no-progress"]) == 0
    graph = WaypointGraph.load(out)
    assert (graph.directed, graph.lead, graph.link) == (True, 2, 0.01)
    assert not (folder / FILE_NAME).exists()
    # --from-graph: the same nodes under another setting, the rest kept, no data read
    rebuilt = tmp_path / "rebuilt.npz"
    assert main(["--from-graph", str(out), "--link-cost", "2", "--out", str(rebuilt)]) == 0
    again = WaypointGraph.load(rebuilt)
    assert (again.directed, again.lead, again.link, again.link_cost) == (True, 2, 0.01, 2.0)
    torch.testing.assert_close(again.nodes, graph.nodes)
    for bad in (["--from-graph", str(out)], ["--from-graph", str(out), "--out", str(rebuilt), "--space", "state"],
                ["--checkpoint", str(folder)]):
        capsys.readouterr()
        assert main(bad) == 2
        error = capsys.readouterr().err
        assert error.startswith("lewm-waypoints: error: ") and error.count("\n") == 1, error
