"""How a trial design behaves: simulation power and the simulate-check (bias, coverage,
type I error, power), built on the simulator and the analysis, above both."""
