"""The mutation lane: a diff-scoped mutation engine and its kill matrix.

operators.py finds the mutants of the changed lines (libcst, on the host: parsing only);
runner_side/tfactory_mutrun.py runs the covering tests against each mutant inside the
sandbox, forking a warm pytest process per mutant; lane.py ties both into the running
stage; report.py writes findings/mutation.json (Stryker's mutation-testing-report-schema)
and the figures report.json carries.
"""
