"""Random session programs: a seeded generator over the runtime's public API, a runner that records what
every call did, the properties every run must keep, and a shrinker for failing programs."""
