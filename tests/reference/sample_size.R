# Reference values for mindtrial.design.sample_size (tests/design/test_design_sample_size.py).
# Rscript tests/reference/sample_size.R  -> tests/reference/sample_size.json
# Debian: r-cran-rpact r-cran-mass r-cran-jsonlite.
suppressPackageStartupMessages({
  library(rpact)
  library(MASS)
  library(jsonlite)
})
out <- list()

# Events for a time-to-event comparison: rpact's Schoenfeld and Freedman computations.
# (maxNumberOfEvents does not depend on accrual; the accrual settings only make the call valid.)
events_case <- function(hr, ratio, power, alpha, type) {
  d <- getSampleSizeSurvival(
    alpha = alpha, sided = 2, beta = 1 - power, hazardRatio = hr,
    typeOfComputation = type, lambda2 = log(2) / 12, accrualTime = c(0, 12),
    followUpTime = 12, allocationRatioPlanned = ratio
  )
  list(hazard_ratio = hr, allocation_ratio = ratio, power = power, alpha = alpha,
       method = tolower(type), events = d$maxNumberOfEvents)
}
out$survival_events <- list(
  events_case(0.5, 1, 0.8, 0.05, "Schoenfeld"),
  events_case(0.58, 1, 0.8, 0.05, "Schoenfeld"),
  events_case(0.41, 2, 0.9, 0.05, "Schoenfeld"),
  events_case(0.58, 1, 0.8, 0.05, "Freedman"),
  events_case(0.7, 2, 0.8, 0.01, "Freedman")
)

# Power at a given number of events: rpact getPowerSurvival.
power_case <- function(hr, events, ratio, type) {
  p <- getPowerSurvival(
    alpha = 0.05, sided = 2, hazardRatio = hr, maxNumberOfEvents = events,
    typeOfComputation = type, lambda2 = log(2) / 12, accrualTime = c(0, 12),
    maxNumberOfSubjects = 10 * events, allocationRatioPlanned = ratio
  )
  list(hazard_ratio = hr, events = events, allocation_ratio = ratio,
       method = tolower(type), power = p$overallReject)
}
out$survival_power <- list(
  power_case(0.58, 80, 1, "Schoenfeld"),
  power_case(0.41, 40, 1, "Freedman"),
  power_case(0.7, 150, 2, "Schoenfeld")
)

# Negative binomial rate ratio: power of glm.nb's Wald test by simulation.
set.seed(20261202)
nb_case <- function(n0, ratio, rate0, rr, k, reps) {
  n1 <- round(n0 * ratio)
  arm <- factor(rep(c("control", "treatment"), c(n0, n1)))
  mu <- ifelse(arm == "treatment", rate0 * rr, rate0)
  hits <- 0
  for (r in seq_len(reps)) {
    y <- rnbinom(length(mu), mu = mu, size = 1 / k)
    fit <- glm.nb(y ~ arm)
    p <- summary(fit)$coefficients["armtreatment", "Pr(>|z|)"]
    hits <- hits + (p < 0.05)
  }
  list(n_control = n0, allocation_ratio = ratio, rate_control = rate0, rate_ratio = rr,
       dispersion = k, reps = reps, power = hits / reps)
}
out$negative_binomial_power <- list(
  nb_case(60, 1, 2.0, 0.58, 0.8, 2000),
  nb_case(40, 2, 1.5, 0.6, 0.5, 2000)
)

args <- commandArgs(trailingOnly = TRUE)
target <- if (length(args)) args[[1]] else "tests/reference/sample_size.json"
write_json(out, target, auto_unbox = TRUE, digits = NA, pretty = TRUE)
