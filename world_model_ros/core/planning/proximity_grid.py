"""The contact memory's charge (core/planning/contact_memory.py) as a grid lookup.

Why: the memory charges each rollout point for its nearness to every remembered surface. As a
distance matrix that is [B*H, M] distances and a ramp over each (512 x 20 x 256 = 2.6 million
per planning cycle), most of a learned model's cycle outside the rollout itself. Here the
surfaces are written once per cycle into a small raster around the rollouts, and each rollout
point reads it: four neighbouring cells, blended bilinearly.

What is rasterised is the *relative distance* ``u(q) = min_m |q - p_m| / r_m`` to the remembered
surfaces ``p_m``, each with its own reach ``r_m`` (shorter for a surface nearer to the robot now
than the full reach: only getting closer is charged). The memory's ramp is a falling function
of it alone, ``clamp((1 - u) / (1 - inner / outer), 0, 1)``, applied after the lookup exactly
as before. Each surface is written into the cells within ``r_m`` plus two cells of it (a
scatter-min of one precomputed disk of offsets); the surfaces lie on the memory's ``cell_m``
lattice and the raster's cells are ``cell_m / SUBDIVISIONS``, so every surface sits on a
raster node and the raster holds ``u`` exactly at its nodes.

Between nodes the bilinear blend differs from the exact value in two places only: inside one
surface's disk the distance bends (curvature 1/d), and the blend reads it at most g^2 / (4 d)
too far (0.7 mm at g = 2.5 cm, d = 22 cm: 0.007 less charge at the default ramp); where two
surfaces' disks meet, ``u`` has a crease and the blend reads it nearer than it is, by at most
g / 2 (more charge, the safe side). Both are well inside the +-2.5 cm to which the memory
rounds what it remembers. ``test/test_contact_memory.py`` checks the lookup against the
distance matrix on random memories.
"""

from __future__ import annotations

import math

import torch

SUBDIVISIONS = 2  # raster cells per memory cell (2: 2.5 cm cells at the default cell_m)
_FAR = 1.0e3  # u of a cell no surface reaches (charge 0; finite so the blend stays finite)


class ProximityGrid:
    """Rasterised relative distance to points on a ``cell_m`` lattice, each with its own reach
    of at most ``max_reach_m``; see the module docstring."""

    def __init__(self, cell_m: float, max_reach_m: float):
        self.node_m = cell_m / SUBDIVISIONS
        self.max_reach_m = max_reach_m
        # One disk of integer offsets covering the longest reach plus the two-cell margin that
        # makes every node next to a reached point hold its exact value.
        reach_nodes = int(math.ceil(max_reach_m / self.node_m)) + 2
        span = torch.arange(-reach_nodes, reach_nodes + 1)
        offsets = torch.stack(torch.meshgrid(span, span, indexing="ij"), dim=-1).reshape(-1, 2)
        length_m = torch.linalg.vector_norm(offsets.to(torch.float64), dim=1) * self.node_m
        inside = length_m <= max_reach_m + 2.0 * self.node_m + 1e-9
        self._offsets_s2 = offsets[inside]
        self._relative_s = (length_m[inside] / max_reach_m).to(torch.float32)
        self.reach_nodes = reach_nodes

    def relative_distance(
        self, lattice_m2: torch.Tensor, reach_m: torch.Tensor, xy_n2: torch.Tensor
    ) -> torch.Tensor:
        """``min_m |xy - p_m| / reach_m[m]`` at each of N positions [N, 2] (metres), for points
        given by their integer ``cell_m``-lattice indices [M, 2]; at least 1 where no point
        reaches. [N] float32 (NaN for a NaN position).

        Points with the full reach go through the raster; the few with a shorter one (nearer to
        the robot than ``max_reach_m``) are measured exactly: their ramps are as narrow as a
        few raster cells, too fine for it.
        """
        xy = xy_n2.to(torch.float32)
        lattice = lattice_m2.to(xy.device)
        reach = reach_m.to(xy.device, torch.float32)
        short = reach < self.max_reach_m * (1.0 - 1e-6)
        relative = self._rasterised(lattice[~short], xy)
        if bool(short.any()):
            # |q - p|^2 / r^2 for every pair as one matrix product: p = (-2 px, -2 py, 1,
            # px^2 + py^2) / r^2 against q = (x, y, x^2 + y^2, 1), positions taken relative to
            # the first point (metres, not odometry-frame tens of metres: float32 keeps mm).
            points = lattice[short].to(torch.float32) * (self.node_m * SUBDIVISIONS)
            centre = points[0]
            q = xy - centre
            p = points - centre
            x_n, y_n = q.t()
            q_4n = torch.stack([x_n, y_n, x_n.square() + y_n.square(), torch.ones_like(x_n)])
            p_m4 = torch.cat([-2.0 * p, torch.ones_like(p[:, :1]), p.square().sum(1, True)], 1)
            p_m4 = p_m4 / reach[short, None].square()
            # [short, N]: the minimum over points is then one pass down whole rows.
            exact = (p_m4 @ q_4n).amin(dim=0).clamp_(min=0.0).sqrt_()
            relative = torch.minimum(relative, exact)
        return relative

    def _rasterised(self, lattice_m2: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """``min_m |xy - p_m| / max_reach_m`` read from the raster, for points with the full
        reach."""
        device = xy.device
        far = torch.full((xy.shape[0],), _FAR, device=device)
        finite = torch.isfinite(xy).all(dim=1)
        if not bool(finite.any()) or not lattice_m2.shape[0]:
            return torch.where(finite, far, float("nan"))
        r = self.reach_nodes
        nodes = lattice_m2 * SUBDIVISIONS
        # The window: the rollouts' box (one node beyond it) and only the points that reach
        # into it; the raster is that window padded by two reaches, so every point's whole disk
        # of offsets fits without a bounds check, and a position outside the window reads the
        # padding, which no point reaches.
        x_n, y_n = xy.t().contiguous()  # whole-row reductions are the fast ones
        if not bool(finite.all()):
            x_n, y_n = x_n[finite], y_n[finite]
        (x_low, x_high), (y_low, y_high) = torch.aminmax(x_n), torch.aminmax(y_n)
        lowest, highest = torch.stack([x_low, y_low]), torch.stack([x_high, y_high])
        low = torch.floor(lowest / self.node_m).to(torch.int64) - 1
        high = torch.floor(highest / self.node_m).to(torch.int64) + 2
        reaching = ((nodes >= low - r) & (nodes <= high + r)).all(dim=1)
        if not bool(reaching.any()):
            return torch.where(finite, far, float("nan"))
        nodes = nodes[reaching]
        # Positions beyond the points' reach read the margin (no charge): cut the window there.
        low = torch.maximum(low, nodes.amin(dim=0) - r)
        high = torch.minimum(high, nodes.amax(dim=0) + r)
        origin = low - 2 * r
        nx, ny = (high - low + 1 + 4 * r).tolist()
        offsets = self._offsets_s2.to(device)
        base = (nodes[:, 0] - origin[0]) * ny + (nodes[:, 1] - origin[1])
        flat = base[:, None] + (offsets[:, 0] * ny + offsets[:, 1])[None]
        relative = self._relative_s.to(device).expand(base.shape[0], -1)
        raster = torch.full((nx * ny,), _FAR, device=device)
        raster.scatter_reduce_(0, flat.reshape(-1), relative.reshape(-1), "amin")
        # Bilinear read: four cells per position (NaN positions give NaN, as distances did).
        grid = xy / self.node_m - origin.to(torch.float32)
        corner = torch.floor(grid)
        wx, wy = (grid - corner).unbind(dim=1)
        ix = corner[:, 0].nan_to_num(0.0).to(torch.int64).clamp(0, nx - 2)
        iy = corner[:, 1].nan_to_num(0.0).to(torch.int64).clamp(0, ny - 2)
        cell = ix * ny + iy
        near_x = raster[cell] * (1.0 - wy) + raster[cell + 1] * wy
        far_x = raster[cell + ny] * (1.0 - wy) + raster[cell + ny + 1] * wy
        return near_x * (1.0 - wx) + far_x * wx

    def any_within(
        self, lattice_m2: torch.Tensor, xy_k2: torch.Tensor, radius_m: float
    ) -> torch.Tensor:
        """Whether any of K positions [K, 2] (metres) lies within ``radius_m`` of each point
        (integer ``cell_m``-lattice indices [M, 2]): [M] bool, exactly as a [M, K] distance
        matrix would say.

        The positions mark the raster node nearest to each (at most half a diagonal, ``c``,
        away). A point with a marked node within ``radius_m - c`` certainly has a position
        within ``radius_m``; one with none within ``radius_m + c`` certainly has not; only the
        few in between are measured, against the positions near them.
        """
        device = xy_k2.device
        nodes = lattice_m2.to(device) * SUBDIVISIONS
        xy = xy_k2.to(torch.float32)
        xy = xy[torch.isfinite(xy).all(dim=1)]
        if not nodes.shape[0] or not xy.shape[0]:
            return torch.zeros(nodes.shape[0], dtype=torch.bool, device=device)
        slack_m = self.node_m * 0.5**0.5
        reach = int(math.ceil((radius_m + slack_m) / self.node_m)) + 1
        origin = nodes.amin(dim=0) - reach
        nx, ny = (nodes.amax(dim=0) + reach - origin + 1).tolist()
        marked_k2 = torch.round(xy / self.node_m).to(torch.int64) - origin
        inside = ((marked_k2 >= 0) & (marked_k2 < torch.tensor([nx, ny], device=device))).all(1)
        raster = torch.zeros(nx * ny, dtype=torch.bool, device=device)
        raster[marked_k2[inside, 0] * ny + marked_k2[inside, 1]] = True
        span = torch.arange(-reach, reach + 1, device=device)
        offsets = torch.stack(torch.meshgrid(span, span, indexing="ij"), dim=-1).reshape(-1, 2)
        length_m = torch.linalg.vector_norm(offsets.to(torch.float32), dim=1) * self.node_m
        cells = (nodes - origin)[:, None, :] + offsets[None]
        hit = raster[cells[..., 0] * ny + cells[..., 1]]  # [M, offsets]
        sure = (hit & (length_m <= radius_m - slack_m)).any(dim=1)
        maybe = (hit & (length_m <= radius_m + slack_m)).any(dim=1) & ~sure
        if bool(maybe.any()):
            points = nodes[maybe].to(torch.float32) * self.node_m
            box_low, box_high = points.amin(dim=0) - radius_m, points.amax(dim=0) + radius_m
            near = xy[((xy >= box_low) & (xy <= box_high)).all(dim=1)]
            if near.shape[0]:  # (none: their marked nodes were just beyond the radius)
                sure[maybe] = torch.cdist(points, near).amin(dim=1) <= radius_m
        return sure
