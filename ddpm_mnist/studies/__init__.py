"""The experiments: a run's configuration (:mod:`.config`), the budgets (:mod:`.profiles`), the
report's studies and those beyond it as data (:mod:`.study`, :mod:`.report`, :mod:`.beyond`,
:mod:`.registry`), the cached runner (:mod:`.runner`), the seed rule and run order
(:mod:`.plan`) and the compute spent (:mod:`.compute`)."""
