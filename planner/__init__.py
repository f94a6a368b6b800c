"""meshplan's planner: pure algorithms over domain values (no I/O, no web,
no SQL, no JAX). See DESIGN.md section 2 for the module map."""
