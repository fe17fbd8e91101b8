# Reference fits for mindtrial.analysis, computed with R's reference packages.
#
# Usage: Rscript tests/reference/public_fits.R [OUT_DIR]
# OUT_DIR defaults to the directory of this script. Writes OUT_DIR/public_fits.json and the
# datasets the fits used as CSV under OUT_DIR/data/, so the Python side fits the SAME rows.
# The test suite reruns this script live whenever Rscript is available (always in CI) and
# compares against the fresh output; the committed files are the fallback without R.
suppressPackageStartupMessages({
  library(lme4)
  library(geepack)
  library(MASS)
  library(survival)
  library(mice)
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

export_csv <- function(df, name) {
  write.csv(df, file.path(data_dir, paste0(name, ".csv")), row.names = FALSE, na = "")
}

# Coefficient table as a list of rows keyed by R's term names.
coef_table <- function(s, est, se, p = NULL) {
  out <- list(term = rownames(s), estimate = unname(s[, est]), std_error = unname(s[, se]))
  if (!is.null(p)) out$p_value <- unname(s[, p])
  out
}

# Wald z contrast of fixed effects: L is a named weight vector over coefficient names.
wald_contrast <- function(beta, V, L) {
  w <- setNames(rep(0, length(beta)), names(beta))
  w[names(L)] <- L
  est <- sum(w * beta)
  se <- sqrt(drop(t(w) %*% V %*% w))
  list(estimate = est, std_error = se, ci_lower = est - qnorm(0.975) * se,
       ci_upper = est + qnorm(0.975) * se, p_value = 2 * pnorm(-abs(est / se)))
}

joint_wald <- function(beta, V, terms) {
  b <- beta[terms]
  chi2 <- drop(t(b) %*% solve(V[terms, terms]) %*% b)
  list(chi2 = chi2, df = length(terms), p_value = pchisq(chi2, length(terms), lower.tail = FALSE))
}

out <- list(
  r_version = R.version.string,
  packages = lapply(
    setNames(nm = c("lme4", "geepack", "MASS", "survival", "mice", "jsonlite")),
    function(p) as.character(packageVersion(p))
  )
)

# ---- lme4 sleepstudy: lmer REML and ML, random intercept and slope ----------------------------
data(sleepstudy, package = "lme4")
ss <- data.frame(Reaction = sleepstudy$Reaction, Days = sleepstudy$Days,
                 Subject = as.character(sleepstudy$Subject))
export_csv(ss, "sleepstudy")
lmm_summary <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  s <- summary(fit)$coefficients
  list(
    coefficients = coef_table(s, "Estimate", "Std. Error"),
    var_intercept = vc$vcov[vc$var1 == "(Intercept)" & is.na(vc$var2) & vc$grp == "Subject"],
    var_slope = vc$vcov[vc$var1 == "Days" & is.na(vc$var2) & vc$grp == "Subject"],
    cov_intercept_slope = vc$vcov[!is.na(vc$var2)],
    residual_variance = sigma(fit)^2,
    loglik = as.numeric(logLik(fit)),
    n_obs = nobs(fit)
  )
}
out$sleepstudy_reml <- lmm_summary(lmer(Reaction ~ Days + (Days | Subject), data = ss, REML = TRUE))
out$sleepstudy_ml <- lmm_summary(lmer(Reaction ~ Days + (Days | Subject), data = ss, REML = FALSE))

# ---- geepack ohio: geeglm logistic, robust (sandwich) SEs -----------------------------------
data(ohio, package = "geepack")
export_csv(ohio, "ohio")
gee_summary <- function(corstr) {
  fit <- geeglm(resp ~ age + smoke, family = binomial, data = ohio, id = id, corstr = corstr)
  s <- summary(fit)$coefficients
  res <- list(coefficients = coef_table(s, "Estimate", "Std.err", "Pr(>|W|)"),
              scale = unname(fit$geese$gamma))
  if (corstr != "independence") res$alpha <- unname(fit$geese$alpha)
  res
}
out$ohio_gee_exchangeable <- gee_summary("exchangeable")
out$ohio_gee_independence <- gee_summary("independence")
out$ohio_gee_ar1 <- gee_summary("ar1")

# Gaussian GEE on sleepstudy and Poisson GEE on MASS epil (seizure counts), exchangeable.
sg <- geeglm(Reaction ~ Days, family = gaussian, data = ss,
             id = factor(ss$Subject, levels = unique(ss$Subject)), corstr = "exchangeable")
s <- summary(sg)$coefficients
out$sleepstudy_gee_gaussian <- list(coefficients = coef_table(s, "Estimate", "Std.err", "Pr(>|W|)"),
                                    alpha = unname(sg$geese$alpha), scale = unname(sg$geese$gamma))
data(epil, package = "MASS")
ep <- data.frame(y = epil$y, trt = as.character(epil$trt), base = epil$base, age = epil$age,
                 period = epil$period, subject = epil$subject)
export_csv(ep, "epil")
eg <- geeglm(y ~ trt + base + age, family = poisson, data = ep, id = subject, corstr = "exchangeable")
s <- summary(eg)$coefficients
out$epil_gee_poisson <- list(coefficients = coef_table(s, "Estimate", "Std.err", "Pr(>|W|)"),
                             alpha = unname(eg$geese$alpha), scale = unname(eg$geese$gamma))

# ---- glm logistic (model-based SEs) on the same rows ---------------------------------------
lg <- glm(resp ~ age + smoke, family = binomial, data = ohio)
s <- summary(lg)$coefficients
out$ohio_glm_logit <- list(coefficients = coef_table(s, 1, 2, 4),
                           loglik = as.numeric(logLik(lg)))

# ---- MASS quine: glm.nb --------------------------------------------------------------------
data(quine, package = "MASS")
qn <- data.frame(Eth = as.character(quine$Eth), Sex = as.character(quine$Sex),
                 Age = as.character(quine$Age), Lrn = as.character(quine$Lrn), Days = quine$Days)
export_csv(qn, "quine")
nb <- glm.nb(Days ~ Sex + Eth + Age + Lrn, data = qn)
s <- summary(nb)$coefficients
out$quine_nb <- list(coefficients = coef_table(s, 1, 2, 4), theta = nb$theta,
                     se_theta = nb$SE.theta, loglik = as.numeric(logLik(nb)))

# ---- survival lung: coxph, default Efron ties ------------------------------------------------
data(cancer, package = "survival")
lu <- data.frame(time = lung$time, event = as.integer(lung$status == 2), age = lung$age,
                 sex = lung$sex, ph_ecog = lung$ph.ecog,
                 sex_label = ifelse(lung$sex == 1, "male", "female"))
export_csv(lu, "lung")
cx <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lu)
s <- summary(cx)$coefficients
out$lung_cox <- list(coefficients = coef_table(s, "coef", "se(coef)", "Pr(>|z|)"),
                     n_obs = cx$n, n_events = cx$nevent, loglik = cx$loglik[2], ties = cx$method)
# A categorical covariate (character column -> factor, reference "female").
cx2 <- coxph(Surv(time, event) ~ sex_label + age, data = lu)
s <- summary(cx2)$coefficients
out$lung_cox_factor <- list(coefficients = coef_table(s, "coef", "se(coef)", "Pr(>|z|)"),
                            loglik = cx2$loglik[2])

# ---- mice: pool() on fixed completed datasets -----------------------------------------------
data(nhanes, package = "mice")
imp <- mice(nhanes, m = 5, seed = 20260122, printFlag = FALSE)
long <- complete(imp, "long")
export_csv(data.frame(imputation = long$.imp, age = long$age, bmi = long$bmi, hyp = long$hyp,
                      chl = long$chl), "nhanes_completed")
export_csv(nhanes, "nhanes")
pooled <- pool(with(imp, lm(chl ~ age + bmi)))
ps <- summary(pooled, conf.int = TRUE)
pp <- pooled$pooled
out$nhanes_pool <- list(
  m = pooled$m,
  term = as.character(ps$term), estimate = ps$estimate, std_error = ps$std.error,
  df = ps$df, p_value = ps$p.value, ci_lower = ps[["2.5 %"]], ci_upper = ps[["97.5 %"]],
  ubar = pp$ubar, b = pp$b, t = pp$t, dfcom = pp$dfcom, riv = pp$riv, lambda = pp$lambda,
  fmi = pp$fmi
)

# ---- p.adjust Benjamini-Hochberg -------------------------------------------------------------
p_raw <- c(0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.04, 0.89, 0.15, 0.001)
p_na <- c(0.01, NA, 0.04, 0.03, 0.2)
out$bh <- list(p = p_raw, adjusted = p.adjust(p_raw, method = "BH"))
# NA stays NA and does not count in n; JSON has no NA for numbers, so send the positions.
out$bh_na <- list(p = p_na[!is.na(p_na)], na_position = which(is.na(p_na)),
                  adjusted = p.adjust(p_na, method = "BH")[!is.na(p_na)])

# ---- A simulated trial shaped like M-ROCC ----------------------------------------------------
set.seed(20250101)
n <- 160
ppl <- data.frame(
  pid = sprintf("P%03d", seq_len(n)),
  arm = rep(c("control", "mrocc"), each = n / 2),
  bup_dose_mg = round(rnorm(n, 16, 5), 1),
  cocaine_use_baseline = rbinom(n, 1, 0.2),
  income_category = sample(c("low", "mid", "high"), n, replace = TRUE),
  followup_weeks = round(runif(n, 4, 24), 1)
)
u <- rnorm(n, 0, 1.2)
periods <- do.call(rbind, lapply(seq_len(n), function(i) {
  per <- 7:12
  lp <- -1.9 + 0.1 * (ppl$arm[i] == "mrocc") + 0.05 * (per - 7) + 0.03 * (ppl$bup_dose_mg[i] - 16) +
    0.6 * ppl$cocaine_use_baseline[i] + u[i]
  d <- data.frame(pid = ppl$pid[i], arm = ppl$arm[i], period = sprintf("p%02d", per),
                  nonabstinent = rbinom(6, 1, plogis(lp)), bup_dose_mg = ppl$bup_dose_mg[i],
                  cocaine_use_baseline = ppl$cocaine_use_baseline[i],
                  income_category = ppl$income_category[i])
  d[runif(6) > 0.85, "nonabstinent"] <- NA  # missed periods
  d
}))
export_csv(periods, "trial_periods")
pc <- periods[!is.na(periods$nonabstinent), ]
gf <- geeglm(nonabstinent ~ arm + period + bup_dose_mg + cocaine_use_baseline + income_category,
             family = binomial, data = pc, id = factor(pc$pid, levels = unique(pc$pid)),
             corstr = "exchangeable")
beta <- coef(gf)
V <- vcov(gf)
rhs <- ~ arm + period + bup_dose_mg + cocaine_use_baseline + income_category
marg <- lapply(c("control", "mrocc"), function(a) {
  nd <- pc
  nd$arm <- factor(a, levels = c("control", "mrocc"))
  X <- model.matrix(rhs, nd)
  pr <- plogis(drop(X %*% beta))
  list(p = mean(pr), grad = colMeans(pr * (1 - pr) * X))
})
marg_row <- function(est, g) {
  se <- sqrt(drop(t(g) %*% V %*% g))
  list(estimate = est, std_error = se, ci_lower = est - qnorm(0.975) * se,
       ci_upper = est + qnorm(0.975) * se, p_value = 2 * pnorm(-abs(est / se)))
}
s <- summary(gf)$coefficients
out$trial_gee <- list(
  coefficients = coef_table(s, "Estimate", "Std.err", "Pr(>|W|)"),
  alpha = unname(gf$geese$alpha), n_obs = nrow(pc), n_groups = length(unique(pc$pid)),
  marginal_control = marg_row(marg[[1]]$p, marg[[1]]$grad),
  marginal_mrocc = marg_row(marg[[2]]$p, marg[[2]]$grad),
  marginal_difference = marg_row(marg[[2]]$p - marg[[1]]$p, marg[[2]]$grad - marg[[1]]$grad)
)

# Anxiety-style LMM: T ~ arm * week (categorical) + covariates, ML, random intercept.
v <- rnorm(n, 0, 5)
weeks <- do.call(rbind, lapply(seq_len(n), function(i) {
  wk <- c(0, 8, 16, 24)
  mu <- 63 - (0.35 + 0.05 * (ppl$arm[i] == "mrocc")) * wk + 0.1 * ppl$bup_dose_mg[i] + v[i]
  d <- data.frame(pid = ppl$pid[i], arm = ppl$arm[i], week = sprintf("w%02d", wk),
                  t_score = round(mu + rnorm(4, 0, 4), 1), bup_dose_mg = ppl$bup_dose_mg[i],
                  cocaine_use_baseline = ppl$cocaine_use_baseline[i],
                  income_category = ppl$income_category[i])
  d[c(FALSE, runif(3) > 0.8), "t_score"] <- NA
  d
}))
export_csv(weeks, "trial_weeks")
wc <- weeks[!is.na(weeks$t_score), ]
lf <- lmer(t_score ~ arm * week + bup_dose_mg + cocaine_use_baseline + income_category + (1 | pid),
           data = wc, REML = FALSE)
beta <- fixef(lf)
V <- as.matrix(vcov(lf))
s <- summary(lf)$coefficients
vc <- as.data.frame(VarCorr(lf))
out$trial_lmm <- list(
  coefficients = coef_table(s, "Estimate", "Std. Error"),
  var_intercept = vc$vcov[vc$grp == "pid"], residual_variance = sigma(lf)^2,
  loglik = as.numeric(logLik(lf)), n_obs = nobs(lf),
  interaction = joint_wald(beta, V, grep(":", names(beta), value = TRUE)),
  change_control = wald_contrast(beta, V, c(weekw24 = 1)),
  change_mrocc = wald_contrast(beta, V, c(weekw24 = 1, "armmrocc:weekw24" = 1)),
  difference_week24 = wald_contrast(beta, V, c(armmrocc = 1, "armmrocc:weekw24" = 1))
)

# Adverse-event counts: negative binomial with follow-up time as exposure.
ae <- data.frame(pid = ppl$pid, arm = ppl$arm, followup_weeks = ppl$followup_weeks)
ae$ae_count <- rnbinom(n, mu = 0.08 * ae$followup_weeks * ifelse(ae$arm == "mrocc", 1.2, 1), size = 1.5)
export_csv(ae, "trial_ae")
an <- glm.nb(ae_count ~ arm + offset(log(followup_weeks)), data = ae)
s <- summary(an)$coefficients
out$trial_nb <- list(coefficients = coef_table(s, 1, 2, 4), theta = an$theta,
                     se_theta = an$SE.theta, loglik = as.numeric(logLik(an)))

# A random-intercept model whose variance estimate is 0 (lme4: "boundary (singular) fit").
set.seed(11)
bd <- data.frame(g = rep(sprintf("G%02d", 1:20), each = 4), x = rnorm(80))
bd$y <- 1 + 0.5 * bd$x + rnorm(80)
# Shrink the group means towards zero so the between-group variance is clearly below zero.
bd$y <- bd$y - 0.9 * (ave(bd$y, bd$g) - mean(bd$y))
export_csv(bd, "boundary")
bf <- suppressMessages(lmer(y ~ x + (1 | g), data = bd, REML = FALSE))
s <- summary(bf)$coefficients
vc <- as.data.frame(VarCorr(bf))
out$boundary_lmm <- list(coefficients = coef_table(s, "Estimate", "Std. Error"),
                         singular = isSingular(bf), var_intercept = vc$vcov[vc$grp == "g"],
                         residual_variance = sigma(bf)^2, loglik = as.numeric(logLik(bf)))

write_json(out, file.path(out_dir, "public_fits.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
