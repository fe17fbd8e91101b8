# The M-ROCC analysis plan computed by R's reference packages straight from a study dataset
# folder, independently of MindTrial: outcome derivation in base R from the CSV files, then
# geepack::geeglm, lme4::lmer (ML), MASS::glm.nb, mice + pool.
#
# Usage: Rscript tests/reference/mrocc_pipeline.R DATASET_DIR OUT_JSON [M] [SEED]
# M imputations (default 20; 0 skips the imputation analysis).
# tests/analysis/test_runner_vs_r.py runs it on a simulated trial and compares with
# mindtrial's run_analysis on the same folder.
suppressPackageStartupMessages({
  library(lme4)
  library(geepack)
  library(MASS)
  library(mice)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
dir <- args[[1]]
out_file <- args[[2]]
m <- if (length(args) >= 3) as.integer(args[[3]]) else 20L
seed <- if (length(args) >= 4) as.integer(args[[4]]) else 1L

rd <- function(name) read.csv(file.path(dir, name), colClasses = "character", na.strings = "")
ppl <- rd("participants.csv")
resp <- rd("responses.csv")
tox <- rd("toxicology.csv")
att <- rd("attendance.csv")
ae <- rd("adverse_events.csv")
resp$week <- as.integer(resp$week)
tox$week <- as.integer(tox$week)
att$week <- as.integer(att$week)

arms <- c("recovery_support", "mrocc")           # reference level first
income_levels <- sort(c("<10k", "10k-30k", ">30k"), method = "radix")  # code-point order, as mindtrial
people <- data.frame(
  pid = ppl$participant_id,
  arm = factor(ppl$arm, levels = arms),
  cohort_wave = ppl$cohort,
  bup_dose_mg = as.numeric(ppl$bup_dose_mg),
  cocaine_use_baseline = as.numeric(ppl$cocaine_use_baseline %in% c("1", "true")) +
    ifelse(is.na(ppl$cocaine_use_baseline), NA, 0),
  income_category = ppl$income_category,
  withdrawn_week = as.integer(ppl$withdrawn_week),
  stringsAsFactors = FALSE
)
covs <- c("bup_dose_mg", "cocaine_use_baseline", "income_category")
set_income <- function(d) {
  present <- income_levels[income_levels %in% d$income_category[!is.na(d$income_category)]]
  d$income_category <- factor(d$income_category, levels = present)
  d
}
# R names factor terms factor(x)level; MindTrial (patsy) names them C(x)[T.level].
rename_terms <- function(x) gsub("^factor\\((\\w+)\\)", "C(\\1)", gsub(":factor\\((\\w+)\\)", ":C(\\1)", x))

coef_rows <- function(est, se, p) {
  list(term = rename_terms(names(est)), estimate = unname(est), std_error = unname(se),
       p_value = unname(p))
}
wald <- function(est, se) {
  list(estimate = est, std_error = se, ci_lower = est - qnorm(0.975) * se,
       ci_upper = est + qnorm(0.975) * se, p_value = 2 * pnorm(-abs(est / se)))
}

# ---- period abstinence (periods of 2 weeks; 7-12 = weeks 13-24) ---------------------------------
analytes <- list(opioids = c("opiates", "oxycodone", "fentanyl", "methadone"),
                 benzodiazepines = "benzodiazepines", cocaine = "cocaine")
periods <- function(substance) {
  s <- resp[resp$instrument == "substance_use_7d" & resp$item == substance &
              resp$week >= 1 & resp$week <= 24, ]
  s$period <- (s$week - 1) %/% 2 + 1
  t <- tox[tox$analyte %in% analytes[[substance]] & tox$week >= 1 & tox$week <= 24, ]
  # one test per participant-week: positive if any analyte positive, else invalid if any
  # invalid, else negative; invalid tests do not count
  key <- paste(t$participant_id, t$week)
  status <- tapply(t$result, key, function(r) {
    if (any(r == "positive")) "positive" else if (any(r == "invalid")) "invalid" else "negative"
  })
  tests <- data.frame(pid = sub(" .*", "", names(status)),
                      week = as.integer(sub(".* ", "", names(status))),
                      status = as.vector(status), stringsAsFactors = FALSE)
  tests <- tests[tests$status != "invalid", ]
  tests$period <- (tests$week - 1) %/% 2 + 1
  grid <- expand.grid(period = 7:12, pid = people$pid, stringsAsFactors = FALSE)
  key <- paste(grid$pid, grid$period)
  skey <- paste(s$participant_id, s$period)
  tkey <- paste(tests$pid, tests$period)
  n_surveys <- as.vector(table(factor(skey, levels = key)))
  n_tests <- as.vector(table(factor(tkey, levels = key)))
  use <- as.vector(tapply(s$value == "1", factor(skey, levels = key), any))
  pos <- as.vector(tapply(tests$status == "positive", factor(tkey, levels = key), any))
  use[is.na(use)] <- FALSE
  pos[is.na(pos)] <- FALSE
  grid$non_abstinent <- ifelse(use | pos, 1, ifelse(n_surveys >= 2 & n_tests >= 1, 0, NA))
  merge(grid, people, by = "pid")
}

gee_fit <- function(d) {
  d <- d[!is.na(d$non_abstinent) & complete.cases(d[, covs]), ]
  d <- set_income(d)
  d <- d[order(d$pid, d$period), ]
  fit <- geeglm(non_abstinent ~ arm + factor(period) + bup_dose_mg + cocaine_use_baseline +
                  income_category, family = binomial, data = d,
                id = factor(d$pid, levels = unique(d$pid)), corstr = "exchangeable")
  beta <- coef(fit); V <- vcov(fit)
  rhs <- ~ arm + factor(period) + bup_dose_mg + cocaine_use_baseline + income_category
  marg <- lapply(arms, function(a) {
    nd <- d; nd$arm <- factor(a, levels = arms)
    X <- model.matrix(rhs, nd); pr <- plogis(drop(X %*% beta))
    list(p = mean(pr), g = colMeans(pr * (1 - pr) * X))
  })
  se <- function(g) sqrt(drop(t(g) %*% V %*% g))
  s <- summary(fit)$coefficients
  list(fit = fit, n_obs = nrow(d), n_groups = length(unique(d$pid)),
       coefficients = coef_rows(beta, s[, "Std.err"], s[, "Pr(>|W|)"]),
       alpha = unname(fit$geese$alpha),
       percent_reference = 100 * marg[[1]]$p, percent_comparison = 100 * marg[[2]]$p,
       difference = wald(100 * (marg[[2]]$p - marg[[1]]$p), 100 * se(marg[[2]]$g - marg[[1]]$g)))
}

out <- list(r_version = R.version.string,
            packages = lapply(setNames(nm = c("lme4", "geepack", "MASS", "mice")),
                              function(p) as.character(packageVersion(p))))
period_data <- list()
for (substance in names(analytes)) {
  d <- periods(substance)
  period_data[[substance]] <- d
  g <- gee_fit(d)
  g$fit <- NULL
  out[[c(opioids = "primary", benzodiazepines = "benzodiazepines", cocaine = "cocaine")[[substance]]]] <- g
}
raw_p <- c(out$primary$difference$p_value, out$benzodiazepines$difference$p_value,
           out$cocaine$difference$p_value)
out$substance_use_bh <- p.adjust(raw_p, method = "BH")

# ---- scored instruments ------------------------------------------------------------------------
promis_t <- c(37.1, 43.2, 45.9, 47.8, 49.4, 50.8, 52.1, 53.2, 54.3, 55.4, 56.4, 57.4, 58.4, 59.4,
              60.4, 61.4, 62.5, 63.5, 64.5, 65.6, 66.6, 67.7, 68.7, 69.8, 70.8, 71.9, 73.0, 74.1,
              75.4, 76.7, 78.2, 80.0, 83.1)  # raw 8..40
score <- function(instrument, n_items, fun) {
  r <- resp[resp$instrument == instrument, ]
  key <- paste(r$participant_id, r$week)
  vals <- tapply(as.numeric(r$value), key, function(v) if (length(v) == n_items && !anyNA(v)) fun(v) else NA)
  data.frame(pid = sub(" .*", "", names(vals)), week = as.integer(sub(".* ", "", names(vals))),
             y = as.vector(vals), stringsAsFactors = FALSE)
}
anx <- score("promis_anxiety_8a", 8, function(v) promis_t[sum(v) - 7])
crv <- score("ocs", 3, mean)

lmm_fit <- function(d, weeks, extra = character()) {
  d <- d[d$week %in% weeks & !is.na(d$y), ]
  d <- merge(d, people, by = "pid")
  d <- d[complete.cases(d[, c(covs, extra)]), ]
  d <- set_income(d)
  d$week <- factor(d$week, levels = weeks)
  f <- as.formula(paste("y ~ arm * week +", paste(c(covs, extra), collapse = " + "), "+ (1 | pid)"))
  fit <- lmer(f, data = d, REML = FALSE)
  beta <- fixef(fit); V <- as.matrix(vcov(fit))
  s <- summary(fit)$coefficients
  last <- paste0("week", weeks[length(weeks)])
  inter <- grep(":", names(beta), value = TRUE)
  b <- beta[inter]
  chi2 <- drop(t(b) %*% solve(V[inter, inter]) %*% b)
  lin <- function(w) {
    L <- setNames(rep(0, length(beta)), names(beta)); L[names(w)] <- w
    wald(sum(L * beta), sqrt(drop(t(L) %*% V %*% L)))
  }
  names(beta) <- gsub("week", "week", names(beta))
  list(n_obs = nrow(d), n_groups = length(unique(d$pid)),
       coefficients = coef_rows(fixef(fit), s[, "Std. Error"], 2 * pnorm(-abs(s[, "t value"]))),
       coefficient_names_r = names(fixef(fit)),
       var_intercept = as.data.frame(VarCorr(fit))$vcov[1], residual_variance = sigma(fit)^2,
       loglik = as.numeric(logLik(fit)),
       interaction = list(chi2 = chi2, df = length(inter),
                          p_value = pchisq(chi2, length(inter), lower.tail = FALSE)),
       change_reference = lin(setNames(1, last)),
       change_comparison = lin(setNames(c(1, 1), c(last, paste0("armmrocc:", last)))),
       difference_in_change = lin(setNames(1, paste0("armmrocc:", last))),
       difference_at_last = lin(setNames(c(1, 1), c("armmrocc", paste0("armmrocc:", last)))))
}
base_t <- anx[anx$week == 0 & !is.na(anx$y), c("pid", "y")]
keep <- base_t$pid[base_t$y > 55]
out$anxiety <- lmm_fit(anx[anx$pid %in% keep, ], c(0, 8, 16, 24))
base_c <- crv[crv$week == 0, c("pid", "y")]
names(base_c)[2] <- "baseline_craving"
crv2 <- merge(crv, base_c, by = "pid", all.x = TRUE)
people_c <- people
out$craving <- local({
  people <<- merge(people_c, base_c, by = "pid", all.x = TRUE)
  res <- lmm_fit(crv, 0:24, "baseline_craving")
  people <<- people_c
  res
})

# ---- adverse events: negative binomial with follow-up weeks as exposure ------------------------
last_week <- tapply(c(resp$week, tox$week, att$week[att$attended %in% c("1", "true")]),
                    c(resp$participant_id, tox$participant_id,
                      att$participant_id[att$attended %in% c("1", "true")]), max)
people$follow_up_weeks <- ifelse(is.na(people$withdrawn_week),
                                 as.numeric(last_week[people$pid]), people$withdrawn_week)
people$follow_up_weeks[is.na(people$follow_up_weeks)] <- 0
counts <- table(factor(ae$participant_id, levels = people$pid))
people$adverse_event_count <- as.numeric(counts[people$pid])
aed <- people[people$follow_up_weeks > 0, ]
nb <- glm.nb(adverse_event_count ~ arm + offset(log(follow_up_weeks)), data = aed)
s <- summary(nb)$coefficients
out$adverse_events <- list(n_obs = nrow(aed), coefficients = coef_rows(coef(nb), s[, 2], s[, 4]),
                           theta = nb$theta, rate_ratio = exp(coef(nb)[["armmrocc"]]))

# ---- completers: at least 15 of 24 sessions ----------------------------------------------------
attended <- att[att$attended %in% c("1", "true") & att$week >= 1 & att$week <= 24, ]
sessions <- table(factor(attended$participant_id, levels = people$pid))
adherent <- names(sessions)[sessions >= 15]
g <- gee_fit(period_data$opioids[period_data$opioids$pid %in% adherent, ])
g$fit <- NULL
out$completers_primary <- g

# ---- multiple imputation (mice, PMM) of the primary outcome, Rubin + Barnard-Rubin --------------
# (M = 0 skips it: the benchmark's run without imputation.)
if (m > 0) {
d <- period_data$opioids
wide <- reshape(d[, c("pid", "period", "non_abstinent")], idvar = "pid", timevar = "period",
                direction = "wide")
wide <- merge(wide, people[, c("pid", "arm", covs)], by = "pid")
wide$income_category <- factor(wide$income_category)
ycols <- paste0("non_abstinent.", 7:12)
meth <- make.method(wide[, -1]); meth[] <- ""; meth[ycols] <- "pmm"
for (cv in c("bup_dose_mg", "cocaine_use_baseline")) if (anyNA(wide[[cv]])) meth[cv] <- "pmm"
imp <- mice(wide[, -1], m = m, method = meth, seed = seed, printFlag = FALSE, maxit = 10)
diffs <- lapply(seq_len(m), function(i) {
  w <- cbind(pid = wide$pid, complete(imp, i))
  long <- reshape(w, direction = "long", varying = ycols, v.names = "non_abstinent",
                  timevar = "period", times = 7:12, idvar = "pid")
  long$income_category <- as.character(long$income_category)
  g <- gee_fit(long)
  c(g$difference$estimate, g$difference$std_error, g$n_obs - length(g$coefficients$term))
})
Q <- sapply(diffs, `[`, 1); U <- sapply(diffs, `[`, 2)^2
dfcom <- diffs[[1]][3]
ps <- pool.scalar(Q, U, n = dfcom + 1, k = 1, rule = "rubin1987")
out$mi_primary <- list(m = m, estimate = ps$qbar, std_error = sqrt(ps$t), between = ps$b,
                       df = ps$df, dfcom = dfcom)
}

write_json(out, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE)
