"""Input batteries: cases of bad and edge inputs, each with the outcome a user should get
(``bad_inputs``, ``edge_inputs``), and the small hand-written goal envs they use (``line_goal_env``).
The tests run every case; ``python -m benchmarks.input_battery`` counts the outcomes."""
