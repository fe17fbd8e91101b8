# Kaplan-Meier reference for mindtrial.report.survival, computed with R's survival package.
#
# Usage: Rscript tests/reference/km_reference.R [OUT_FILE]
# Reads tests/reference/data/lung.csv (survival::lung, written by public_fits.R) and writes,
# per sex, the survfit product-limit estimate with log-log 95% limits and the numbers at risk
# at fixed times. OUT_FILE defaults to km_reference.json beside this script.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", file_arg)))
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[[1]] else file.path(here, "km_reference.json")

lung <- read.csv(file.path(here, "data", "lung.csv"))
at <- c(0, 100, 200, 365, 500, 730, 1000)
out <- list()
for (g in sort(unique(lung$sex_label))) {
  d <- lung[lung$sex_label == g, ]
  fit <- survfit(Surv(time, event) ~ 1, data = d, conf.type = "log-log")
  s <- summary(fit, times = at, extend = TRUE)
  out[[g]] <- list(
    time = fit$time,
    surv = fit$surv,
    lower = fit$lower,
    upper = fit$upper,
    median = unname(summary(fit)$table[["median"]]),
    risk_times = at,
    n_risk = s$n.risk,
    n = nrow(d),
    events = sum(d$event),
    person_time = sum(d$time)
  )
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), out_file)
