# The clustered sensitivity analyses of `mindtrial analyze` on a committed study dataset,
# refitted by lme4 and geepack from the analysis frames.
#
# Usage: Rscript tests/reference/clustered_runner.R [OUT_JSON]
# Reads tests/reference/data/mmt_depression_frame.csv (PHQ-9 by week of the frozen MORE-MMT
# dataset data/mmt_trial, one row per observed participant-week: participant_id, arm, cohort,
# week, value) and data/ltot_misuse_frame.csv (no opioid misuse by month of the frozen
# MORE-LTOT dataset data/ltot_trial: participant_id, arm, cohort, month, value). The therapy
# group is computed here from
# arm and cohort: a cohort in an arm, or the participant alone when the cohort is missing.
# tests/analysis/test_clustered_runner_vs_r.py compares with run_analysis.
suppressPackageStartupMessages({
  library(lme4)
  library(geepack)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
here <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 1) dirname(normalizePath(f)) else "tests/reference"
})
out_file <- if (length(args) >= 1) args[[1]] else file.path(here, "clustered_runner.json")
read_frame <- function(name, arms) {
  d <- read.csv(file.path(here, "data", name), stringsAsFactors = FALSE, na.strings = "")
  d$arm <- factor(d$arm, levels = arms)
  d$therapy_group <- ifelse(is.na(d$cohort), d$participant_id, paste(d$arm, d$cohort, sep = "/"))
  d
}
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(ftol_abs = 1e-15, xtol_abs = 1e-13, ftol_rel = 1e-15,
                                    xtol_rel = 1e-13, maxeval = 1e5))
table <- function(s, se) list(terms = rownames(s), estimate = unname(s[, 1]),
                              std_error = unname(s[, se]))
out <- list(r_version = R.version.string, lme4 = as.character(packageVersion("lme4")),
            geepack = as.character(packageVersion("geepack")))

d <- read_frame("mmt_depression_frame.csv", c("usual_care", "more"))
d$fweek <- factor(d$week)
fit <- lmer(value ~ arm * fweek + (1 | therapy_group) + (1 | therapy_group:participant_id),
            data = d, REML = TRUE, control = tight)
out$nested <- c(table(summary(fit)$coefficients, "Std. Error"),
                list(n_groups = length(unique(d$therapy_group))))
fit <- lmer(value ~ arm * fweek + (1 + week | participant_id), data = d, REML = TRUE,
            control = tight)
out$slopes <- table(summary(fit)$coefficients, "Std. Error")

a <- read_frame("ltot_misuse_frame.csv", c("supportive", "more"))
a <- a[order(a$therapy_group, a$participant_id, a$month), ]
fit <- geeglm(value ~ arm + factor(month), family = binomial, data = a,
              id = factor(therapy_group, levels = unique(therapy_group)),
              corstr = "exchangeable", control = geese.control(epsilon = 1e-12, maxit = 200))
out$gee <- c(table(summary(fit)$coefficients, "Std.err"),
             list(n_obs = nrow(a), n_groups = length(unique(a$therapy_group))))
write_json(out, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE)
