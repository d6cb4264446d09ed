"""The split search: a scene's shots into the fewest consecutive jobs, the most balanced.

``split`` takes the shots' durations and, for each shot ``i``, every ``j``
such that shots ``i..j-1`` make a valid job (the scene planner measures
that: ``planner/scene.py``). Of the splits into valid jobs it returns the
best, in this order of preference, each one breaking the ties of those
before it:

1. the fewest jobs;
2. the smallest longest job (in seconds);
3. the smallest sum of squared job durations (the least variance);
4. the earlier jobs get the extra shots: of the splits still tied, the one
   whose last job starts latest; of those, the one whose job before it starts
   latest; and so on back to the first.

``tests/test_planner_hypothesis.py`` holds ``split`` to a brute force of this
order, exact split for exact split.

``reachable`` tells which shot positions any sequence of valid jobs can
reach, for the diagnostic of a scene that no split can carry.
"""

from typing import Sequence


def split(durations: Sequence[int], ends: Sequence[Sequence[int]]) -> list[tuple[int, int]] | None:
    """The best split of shots ``0..n-1`` into consecutive groups, or None.

    ``ends[i]`` lists every ``j`` such that shots ``i..j-1`` make a valid job.
    "Best" is the order of preference above: the fewest groups; then the
    smallest longest group (in seconds); then the smallest sum of squared
    group durations; then the earlier groups get the extra shots.
    """
    n = len(durations)
    if n == 0:
        return []
    prefix = [0]
    for d in durations:
        prefix.append(prefix[-1] + d)
    INF = float("inf")
    starts: list[list[int]] = [[] for _ in range(n + 1)]   # j -> every i with (i, j) valid
    for i in range(n):
        for j in ends[i]:
            starts[j].append(i)
    # Fewest groups for each prefix.
    count = [INF] * (n + 1)
    count[0] = 0
    for j in range(1, n + 1):
        for i in starts[j]:
            if count[i] + 1 < count[j]:
                count[j] = count[i] + 1
    if count[n] == INF:
        return None
    k_best = int(count[n])
    # With exactly k groups: the smallest longest group, then the smallest sum of squares.
    longest = [[INF] * (n + 1) for _ in range(k_best + 1)]
    longest[0][0] = 0
    for k in range(1, k_best + 1):
        row, prev = longest[k], longest[k - 1]
        for j in range(1, n + 1):
            best = INF
            for i in starts[j]:
                if prev[i] < INF:
                    v = max(prev[i], prefix[j] - prefix[i])
                    if v < best:
                        best = v
            row[j] = best
    limit = longest[k_best][n]
    squares = [[INF] * (n + 1) for _ in range(k_best + 1)]
    squares[0][0] = 0
    for k in range(1, k_best + 1):
        row, prev = squares[k], squares[k - 1]
        for j in range(1, n + 1):
            best = INF
            for i in starts[j]:
                d = prefix[j] - prefix[i]
                if d <= limit and prev[i] < INF:
                    v = prev[i] + d * d
                    if v < best:
                        best = v
            row[j] = best
    groups: list[tuple[int, int]] = []
    j = n
    for k in range(k_best, 0, -1):
        target = squares[k][j]
        chosen = None
        for i in sorted(starts[j], reverse=True):  # the last group as short as possible
            d = prefix[j] - prefix[i]
            if d <= limit and squares[k - 1][i] + d * d == target:
                chosen = i
                break
        assert chosen is not None
        groups.append((chosen, j))
        j = chosen
    groups.reverse()
    return groups


def reachable(n: int, ends: Sequence[Sequence[int]]) -> list[bool]:
    """Which shot positions a sequence of valid groups can reach from the start."""
    reach = [False] * (n + 1)
    reach[0] = True
    for i in range(n):
        if reach[i]:
            for j in ends[i]:
                reach[j] = True
    return reach
