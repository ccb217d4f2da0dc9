"""Coarser drawing meshes for small frames: a software renderer's time goes to triangles a 64-px camera cannot see.

OGBench's UR5e and Robotiq meshes hold about 185,000 triangles; drawn twice per frame (the shadow map, then the
image) they are about 90 % of a 64-px frame's time on Mesa's llvmpipe (``experiments/bench/render``). At that
size one pixel covers 1-2 cm of the arm, so detail below a few millimetres changes no pixel.

``coarsen_drawn_meshes`` clusters each drawn mesh's vertices on a grid of ``cell`` metres and keeps one existing
vertex per cell (the first), rewriting only the triangle list (``mesh_face``, ``mesh_facenormal``,
``mesh_facenum``) of the compiled model. Vertex positions are left as they are, so the physics cannot change:
collision reads vertices through the convex-hull graph, and inertia was fixed at compile time. Call it after
compiling and before the first frame (MuJoCo uploads meshes to the renderer when it makes its context).
"""

from __future__ import annotations

import mujoco
import numpy as np


def coarse_faces(vertices: np.ndarray, faces: np.ndarray, cell: float) -> np.ndarray:
    """Triangles of a mesh whose vertices are merged on a grid.

    Args:
        vertices: (V, 3) float, the mesh's vertices (m, mesh frame).
        faces: (F, 3) int, vertex indices of each triangle.
        cell: grid cell side (m); vertices in one cell become that cell's first vertex.

    Returns:
        (F', 3) int32 triangles over the same vertex array, F' <= F: triangles that collapse (two corners in one
        cell) and duplicates are dropped; winding is kept.
    """
    if cell <= 0 or not np.isfinite(cell):
        raise ValueError(f"cell must be a positive number of metres, got {cell}")
    keys = np.floor(np.asarray(vertices, np.float64) / cell).astype(np.int64)
    _, first, cluster = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    representative = first[cluster.reshape(-1)]  # (V,) index of the vertex that stands for each vertex's cell
    mapped = representative[np.asarray(faces, np.int64)]
    keep = (mapped[:, 0] != mapped[:, 1]) & (mapped[:, 1] != mapped[:, 2]) & (mapped[:, 0] != mapped[:, 2])
    mapped = mapped[keep]
    # the same triangle reached from several original ones: keep one (rotations of a winding are the same face)
    canonical = np.sort(mapped, axis=1)
    _, unique_rows = np.unique(canonical, axis=0, return_index=True)
    return mapped[np.sort(unique_rows)].astype(np.int32)


def coarsen_drawn_meshes(model: mujoco.MjModel, cell: float, min_faces: int = 200) -> dict:
    """Rewrites the triangles of every mesh a visible geom draws, in place (see the module docstring).

    Args:
        model: a compiled model whose renderer has not been made yet.
        cell: grid cell side (m).
        min_faces: meshes with fewer triangles are left alone.

    Returns:
        ``{"faces_before": int, "faces_after": int}`` over the meshes changed.
    """
    drawn = {int(model.geom_dataid[g]) for g in range(model.ngeom)
             if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and model.geom_group[g] < 3}
    before = after = 0
    for mesh in sorted(drawn):
        count = int(model.mesh_facenum[mesh])
        if count < min_faces:
            continue
        face_start, vert_start = int(model.mesh_faceadr[mesh]), int(model.mesh_vertadr[mesh])
        vertices = model.mesh_vert[vert_start:vert_start + int(model.mesh_vertnum[mesh])]
        faces = model.mesh_face[face_start:face_start + count]
        normals_of_faces = model.mesh_facenormal[face_start:face_start + count]
        if not np.array_equal(faces, normals_of_faces):
            continue  # normals indexed apart from vertices: keeping them right needs more than a face list
        kept = coarse_faces(vertices, faces, cell)
        if model.mesh_texcoordadr[mesh] >= 0 and not np.array_equal(
                faces, model.mesh_facetexcoord[face_start:face_start + count]):
            continue  # texture coordinates indexed apart from vertices: left alone
        model.mesh_face[face_start:face_start + len(kept)] = kept
        model.mesh_facenormal[face_start:face_start + len(kept)] = kept
        if model.mesh_texcoordadr[mesh] >= 0:
            model.mesh_facetexcoord[face_start:face_start + len(kept)] = kept
        model.mesh_facenum[mesh] = len(kept)
        before, after = before + count, after + len(kept)
    return {"faces_before": before, "faces_after": after}
