# Reference fits for the clustered sensitivity analyses: random slopes, participants nested
# in therapy groups (lme4) and GEE clustered by therapy group (geepack).
#
# Usage: Rscript tests/reference/clustered_fits.R [OUT_DIR]
# OUT_DIR defaults to this script's directory. Simulates one trial with a fixed seed (R's
# default generators), writes it as OUT_DIR/data/clustered_weeks.csv (continuous outcome by
# week) and OUT_DIR/data/clustered_periods.csv (binary outcome by period), then fits it and
# writes OUT_DIR/clustered_fits.json. tests/analysis/test_clustered_vs_r.py reruns this script
# live when Rscript exists and fits the same CSV files in Python.
#
# The trial: 120 participants, arms "control" and "therapy"; the therapy arm is treated in
# groups of 8 (cohorts C01..C08), half the control arm in support groups of 10 (C01..C03,
# the same cohort labels as the therapy arm: a therapy group is one cohort in one arm) and the
# other half in no group (cohort missing: each is a group of one). Outcome y at weeks
# 0, 4, ..., 24 with a random intercept, a random slope on week, a therapy-group effect and
# 15% of the follow-up visits missing; y_flat has no slope variance (a singular fit).
suppressPackageStartupMessages({
  library(lme4)
  library(geepack)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) >= 1) {
  out_dir <- args[[1]]
} else {
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  out_dir <- dirname(normalizePath(sub("^--file=", "", file_arg)))
}
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, recursive = TRUE, showWarnings = FALSE)

set.seed(20261203)
n <- 120
arm <- rep(c("therapy", "control"), each = n / 2)
cohort <- c(sprintf("C%02d", sort(rep(1:8, length.out = n / 2))),
            sprintf("C%02d", rep(1:3, each = 10)), rep(NA, 30))
participant_id <- sprintf("P%03d", seq_len(n))
# the therapy-group rule: one cohort in one arm; no cohort -> a group of one
therapy_group <- ifelse(is.na(cohort), participant_id, paste(arm, cohort, sep = "/"))
site <- sample(c("north", "south", "west"), n, replace = TRUE)
baseline_x <- round(rnorm(n, 10, 2), 2)
b0 <- rnorm(n, 0, 4)
b1 <- rnorm(n, 0, 0.25)
groups <- unique(therapy_group)
g_effect <- setNames(rnorm(length(groups), 0, 2), groups)
weeks <- seq(0, 24, by = 4)
people <- data.frame(participant_id, arm, cohort, therapy_group, site, baseline_x, b0, b1,
                     stringsAsFactors = FALSE)
long <- merge(people, data.frame(week = weeks), by = NULL)
long <- long[order(long$participant_id, long$week), ]
is_therapy <- long$arm == "therapy"
mu <- 50 - 0.3 * long$week - 0.15 * long$week * is_therapy + 0.8 * long$baseline_x +
  2 * (long$site == "south")
long$y <- round(mu + long$b0 + long$b1 * long$week + g_effect[long$therapy_group] +
                  rnorm(nrow(long), 0, 3), 3)
long$y_flat <- round(mu + long$b0 + g_effect[long$therapy_group] + rnorm(nrow(long), 0, 3), 3)
keep <- long$week == 0 | runif(nrow(long)) > 0.15
weekly <- long[keep, c("participant_id", "arm", "cohort", "therapy_group", "site", "baseline_x",
                       "week", "y", "y_flat")]
rownames(weekly) <- NULL
write.csv(weekly, file.path(data_dir, "clustered_weeks.csv"), row.names = FALSE, na = "")

periods <- merge(people, data.frame(period = 1:4), by = NULL)
periods <- periods[order(periods$participant_id, periods$period), ]
eta <- -0.2 + 0.25 * periods$period - 0.6 * (periods$arm == "therapy") +
  0.1 * (periods$baseline_x - 10) + 0.5 * periods$b0 / 4 + g_effect[periods$therapy_group] / 2
periods$use <- as.integer(runif(nrow(periods)) < plogis(eta))
periods <- periods[runif(nrow(periods)) > 0.1, c("participant_id", "arm", "cohort",
                                                 "therapy_group", "baseline_x", "period", "use")]
rownames(periods) <- NULL
write.csv(periods, file.path(data_dir, "clustered_periods.csv"), row.names = FALSE, na = "")

# ---- fits -----------------------------------------------------------------------------------
read_back <- function(name) {
  d <- read.csv(file.path(data_dir, name), stringsAsFactors = FALSE)
  d$arm <- factor(d$arm, levels = c("control", "therapy"))
  d
}
weekly <- read_back("clustered_weeks.csv")
weekly$fweek <- factor(weekly$week)
periods <- read_back("clustered_periods.csv")

# lme4's default optimizer stops at ftol_abs = 1e-8 on the deviance; the "tight" fits run it
# to the optimum so the comparison measures our estimator, not the optimizer's stopping rule.
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(ftol_abs = 1e-15, xtol_abs = 1e-13, ftol_rel = 1e-15,
                                    xtol_rel = 1e-13, maxeval = 1e5))

lmm_summary <- function(fit) {
  s <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  list(terms = rownames(s), estimate = unname(s[, "Estimate"]),
       std_error = unname(s[, "Std. Error"]),
       varcorr = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                      var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov),
       residual_variance = sigma(fit)^2, loglik = as.numeric(logLik(fit)),
       theta = unname(getME(fit, "theta")), singular = isSingular(fit),
       n_obs = nrow(fit@frame), n_groups = as.list(ngrps(fit)))
}

fixed <- "~ arm * fweek + baseline_x + site"
slopes <- as.formula(paste("y", fixed, "+ (1 + week | participant_id)"))
flat <- as.formula(paste("y_flat", fixed, "+ (1 + week | participant_id)"))
nested <- as.formula(paste("y", fixed, "+ (1 | therapy_group) + (1 | therapy_group:participant_id)"))

out <- list(
  r_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  geepack = as.character(packageVersion("geepack")))
)
for (reml in c(TRUE, FALSE)) {
  tag <- if (reml) "reml" else "ml"
  out[[paste0("slopes_", tag)]] <- lmm_summary(lmer(slopes, weekly, REML = reml, control = tight))
  out[[paste0("slopes_", tag, "_default")]] <- lmm_summary(lmer(slopes, weekly, REML = reml))
  out[[paste0("nested_", tag)]] <- lmm_summary(lmer(nested, weekly, REML = reml, control = tight))
  out[[paste0("nested_", tag, "_default")]] <- lmm_summary(lmer(nested, weekly, REML = reml))
}
out$slopes_flat_reml <- lmm_summary(suppressMessages(
  lmer(flat, weekly, REML = TRUE, control = tight)))

gee_summary <- function(fit) {
  s <- summary(fit)$coefficients
  list(terms = rownames(s), estimate = unname(s[, "Estimate"]),
       std_error = unname(s[, "Std.err"]), alpha = unname(fit$geese$alpha),
       scale = unname(fit$geese$gamma), n_clusters = length(unique(fit$id)),
       n_obs = length(fit$y))
}
# geeglm needs each cluster's rows together
by_group <- function(d, time) d[order(d$therapy_group, d$participant_id, d[[time]]), ]
periods <- by_group(periods, "period")
out$gee_binomial_group <- gee_summary(geeglm(
  use ~ arm + factor(period) + baseline_x, family = binomial, data = periods,
  id = factor(therapy_group, levels = unique(therapy_group)), corstr = "exchangeable",
  control = geese.control(epsilon = 1e-12, maxit = 200)))
weekly <- by_group(weekly, "week")
out$gee_gaussian_group <- gee_summary(geeglm(
  y ~ arm * fweek + baseline_x + site, family = gaussian, data = weekly,
  id = factor(therapy_group, levels = unique(therapy_group)), corstr = "exchangeable",
  control = geese.control(epsilon = 1e-12, maxit = 200)))

write_json(out, file.path(out_dir, "clustered_fits.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
