"""Coarser drawn meshes: triangles merged on a grid, vertices and physics untouched."""

import numpy as np
import pytest

from envs.mesh_detail import coarse_faces


def grid_sheet(n: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A flat square sheet of (n+1)^2 vertices and 2 n^2 triangles, side ``size`` (m)."""
    xs = np.linspace(0.0, size, n + 1)
    vertices = np.array([(x, y, 0.0) for y in xs for x in xs])
    faces = []
    for j in range(n):
        for i in range(n):
            a = j * (n + 1) + i
            faces += [(a, a + 1, a + n + 2), (a, a + n + 2, a + n + 1)]
    return vertices, np.array(faces)


def test_a_fine_sheet_keeps_a_few_triangles_over_existing_vertices():
    vertices, faces = grid_sheet(40, 0.1)  # 2.5-mm triangles
    kept = coarse_faces(vertices, faces, cell=0.02)
    assert 0 < len(kept) < len(faces) / 20
    assert kept.max() < len(vertices) and kept.dtype == np.int32
    assert all(len(set(f)) == 3 for f in kept.tolist())  # no collapsed triangle
    assert len({tuple(sorted(f)) for f in kept.tolist()}) == len(kept)  # no duplicate
    normals = np.cross(vertices[kept[:, 1]] - vertices[kept[:, 0]], vertices[kept[:, 2]] - vertices[kept[:, 0]])
    assert (normals[:, 2] > 0).all()  # the winding (which side faces out) is kept


def test_a_cell_finer_than_the_mesh_changes_nothing():
    vertices, faces = grid_sheet(4, 0.1)
    assert np.array_equal(np.sort(coarse_faces(vertices, faces, cell=1e-4), axis=0), np.sort(faces, axis=0))


@pytest.mark.parametrize("cell", [0.0, -1.0, float("nan"), float("inf")])
def test_a_cell_that_is_not_a_positive_length_is_refused(cell):
    vertices, faces = grid_sheet(2, 0.1)
    with pytest.raises(ValueError, match="cell must be a positive number"):
        coarse_faces(vertices, faces, cell)
