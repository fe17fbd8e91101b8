# lme4::lmer reference answers for random-intercept models that statsmodels' MixedLM, run
# from its default start, gets wrong (it reports an infinite log-likelihood and a zero
# intercept variance), plus a truly singular fit and a REML and a random-slope-only variant.
#
# Usage: Rscript tests/reference/lmm_hard_cases.R [OUT_JSON] [BIG_CSV]
# Writes tests/reference/lmm_hard_cases.json by default. With BIG_CSV (the 5,000-participant
# craving frame, written by tests/analysis/test_lmm_robustness.py) only that fit is made.
#
# Data (tests/reference/data/):
#   lmm_craving_seed1.csv   M-ROCC craving frame of `mindtrial simulate --protocol mrocc-2025
#                           --seed 1` (ocs_mean by week 0..24), income reference "<10k"
#   lmm_small_variance.csv  80 rows, 20 groups: y, x ~ N(0, 1) (numpy default_rng(1))
#   lmm_singular.csv        45 rows, 15 groups, no group effect: lme4 reports a boundary fit
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
here <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 1) dirname(normalizePath(f)) else "tests/reference"
})
out_file <- if (length(args) >= 1) args[[1]] else file.path(here, "lmm_hard_cases.json")
data_dir <- file.path(here, "data")

# R names factor terms factor(x)level; MindTrial (patsy) names them x[T.level].
summarise <- function(fit) {
  s <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  list(terms = names(fixef(fit)), estimate = unname(fixef(fit)),
       std_error = unname(s[, "Std. Error"]), var_re = vc$vcov[1],
       residual_variance = sigma(fit)^2, loglik = as.numeric(logLik(fit)),
       singular = isSingular(fit), n_obs = nrow(fit@frame),
       y_sum = sum(model.response(fit@frame)))
}

craving <- function(d) {
  d$arm <- factor(d$arm, levels = c("recovery_support", "mrocc"))
  d$income_category <- factor(d$income_category, levels = c("<10k", "10k-30k", ">30k"))
  d$week <- factor(d$week, levels = sort(unique(d$week)))
  d
}
craving_formula <- ocs_mean ~ arm * week + bup_dose_mg + cocaine_use_baseline +
  income_category + baseline_craving + (1 | participant_id)

out <- list(r_version = R.version.string, lme4 = as.character(packageVersion("lme4")))
if (length(args) >= 2) {
  d <- craving(read.csv(args[[2]], stringsAsFactors = FALSE))
  out$craving_5000 <- summarise(lmer(craving_formula, data = d, REML = FALSE))
} else {
  rd <- function(name) read.csv(file.path(data_dir, name), stringsAsFactors = FALSE)
  d <- craving(rd("lmm_craving_seed1.csv"))
  out$craving_seed1_ml <- summarise(lmer(craving_formula, data = d, REML = FALSE))
  out$craving_seed1_reml <- summarise(lmer(craving_formula, data = d, REML = TRUE))
  d <- rd("lmm_small_variance.csv")
  out$small_variance <- summarise(lmer(y ~ x + (1 | g), data = d, REML = FALSE))
  d <- rd("lmm_singular.csv")
  out$singular <- summarise(suppressMessages(lmer(y ~ x + (1 | g), data = d, REML = FALSE)))
  d <- rd("sleepstudy.csv")
  d$Subject <- as.character(d$Subject)
  out$sleepstudy_slope_only <- summarise(lmer(Reaction ~ Days + (0 + Days | Subject), data = d,
                                              REML = FALSE))
}
write_json(out, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE)
