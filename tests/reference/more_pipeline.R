# The MORE-LTOT and MORE-MMT published estimands computed by R's reference packages straight
# from a study dataset folder, independently of MindTrial: outcome derivation in base R from
# the CSV files, then stats::glm (binomial), geepack::geeglm (methadone doses taken), lme4::lmer
# (ML), survival::coxph (Efron ties)
# and MASS::glm.nb (days of use with the log of the days assessed as offset).
#
# Usage: Rscript tests/reference/more_pipeline.R ltot|mmt DATASET_DIR OUT_JSON
# tests/analysis/test_more_pipeline_vs_r.py runs it on the committed datasets under
# tests/reference/data/ and compares with mindtrial's run_analysis on the same folder.
suppressPackageStartupMessages({
  library(lme4)
  library(geepack)
  library(MASS)
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
trial <- args[[1]]
dir <- args[[2]]
out_file <- args[[3]]

rd <- function(name) read.csv(file.path(dir, name), colClasses = "character", na.strings = "")
ppl <- rd("participants.csv")
resp <- rd("responses.csv")
tox <- rd("toxicology.csv")
att <- rd("attendance.csv")
resp$week <- as.integer(resp$week)
resp$value <- as.numeric(resp$value)
tox$week <- as.integer(tox$week)
att$week <- as.integer(att$week)

wald <- function(est, se) {
  list(estimate = est, std_error = se, ci_lower = est - qnorm(0.975) * se,
       ci_upper = est + qnorm(0.975) * se, p_value = 2 * pnorm(-abs(est / se)))
}
coefs <- function(est, se) list(term = names(est), estimate = unname(est), std_error = unname(se))

# One test per participant-week for a set of analytes: positive if any is positive.
positive_weeks <- function(analytes) {
  t <- tox[tox$analyte %in% analytes & tox$result == "positive", ]
  unique(paste(t$participant_id, t$week))
}

# A scale score per participant-week: mean (or sum) of the items, NA when fewer than
# `needed` of them were answered.
scale_score <- function(instrument, items, needed, fun) {
  r <- resp[resp$instrument == instrument & resp$item %in% items & !is.na(resp$value), ]
  key <- paste(r$participant_id, r$week)
  n <- tapply(r$value, key, length)
  v <- tapply(r$value, key, fun)
  v[n < needed] <- NA
  v
}

out <- list(r_version = R.version.string,
            packages = lapply(setNames(nm = c("lme4", "MASS", "survival")),
                              function(p) as.character(packageVersion(p))))

if (trial == "ltot") {
  arms <- c("supportive", "more")
  people <- data.frame(pid = ppl$participant_id, arm = factor(ppl$arm, levels = arms))
  # ---- Drug Misuse Index at month 9 (study week 39) ------------------------------------------
  comm_items <- sprintf("comm_%02d", 1:17)
  comm <- scale_score("comm", comm_items, 17, sum)
  unexpected <- c("opiates", "oxycodone", "fentanyl", "methadone", "buprenorphine", "tramadol",
                  "cocaine", "amphetamine", "methamphetamine", "mdma", "pcp")
  pos <- positive_weeks(unexpected)
  interview <- resp[resp$instrument == "dmi_interview" & resp$value == 1, ]
  said <- unique(paste(interview$participant_id, interview$week))
  key <- paste(people$pid, 39)
  score <- comm[key]
  misuse <- ifelse(key %in% pos | key %in% said | (!is.na(score) & score >= 13), 1,
                   ifelse(!is.na(score), 0, NA))
  d9 <- data.frame(people, no_misuse = 1 - misuse)
  fit <- glm(no_misuse ~ arm, family = binomial, data = d9)
  s <- summary(fit)$coefficients
  b <- s["armmore", "Estimate"]; se <- s["armmore", "Std. Error"]
  w <- wald(b, se)
  out$misuse <- list(
    log_odds_ratio = w, odds_ratio = exp(b), ci_lower = exp(w$ci_lower),
    ci_upper = exp(w$ci_upper), p_value = w$p_value, n = nobs(fit),
    percent_not_misusing = as.list(tapply(d9$no_misuse, d9$arm, mean, na.rm = TRUE) * 100),
    coefficients = coefs(s[, "Estimate"], s[, "Std. Error"]))
  # ---- BPI severity (all 4) and interference (>= 4 of 7), months 0/2/3/6/9 -------------------
  weeks <- c(`0` = 0, `2` = 8, `3` = 13, `6` = 26, `9` = 39)
  scores <- list(
    pain_severity = scale_score("bpi_sf", c("worst", "least", "average", "now"), 4, mean),
    pain_interference = scale_score("bpi_sf", c("general_activity", "mood", "walking",
                                                "normal_work", "relations", "sleep",
                                                "enjoyment"), 4, mean))
  for (name in names(scores)) {
    v <- scores[[name]]
    long <- do.call(rbind, lapply(names(weeks), function(m) {
      data.frame(people, month = as.integer(m), y = unname(v[paste(people$pid, weeks[[m]])]))
    }))
    long <- long[!is.na(long$y), ]
    long$month <- factor(long$month, levels = as.integer(names(weeks)))
    fit <- lmer(y ~ arm * month + (1 | pid), data = long, REML = FALSE)
    beta <- fixef(fit); V <- as.matrix(vcov(fit))
    term <- "armmore:month9"
    # difference in change 0 -> 9 (more minus supportive) is the interaction coefficient;
    # the published estimand is improvement positive (lower pain is better), so negated.
    w <- wald(-beta[[term]], sqrt(V[term, term]))
    out[[name]] <- c(w, list(n_obs = nobs(fit), coefficients = coefs(beta, sqrt(diag(V)))))
  }
}

if (trial == "mmt") {
  arms <- c("usual_care", "more")
  people <- data.frame(pid = ppl$participant_id, arm = factor(ppl$arm, levels = arms),
                       withdrawn_week = as.integer(ppl$withdrawn_week),
                       reason = ppl$withdrawal_reason)
  # follow-up ends at the withdrawal week, else the last week with any data
  weeks_with_data <- rbind(resp[, c("participant_id", "week")], tox[, c("participant_id", "week")],
                           att[att$attended %in% c("1", "true", "True"), c("participant_id", "week")])
  last <- tapply(weeks_with_data$week, weeks_with_data$participant_id, max)
  people$end <- ifelse(is.na(people$withdrawn_week), last[people$pid], people$withdrawn_week)
  people$end[is.na(people$end)] <- 0
  any_drug <- c("opiates", "oxycodone", "fentanyl", "benzodiazepines", "cocaine", "amphetamine",
                "methamphetamine")
  # ---- return to use: first week >= 1 with a positive test or opioids reported -------------
  t <- tox[tox$analyte %in% any_drug & tox$result == "positive" & tox$week >= 1, ]
  s <- resp[resp$instrument == "substance_use_7d" & resp$item == "opioids" & resp$value == 1 &
              resp$week >= 1, ]
  ev <- rbind(data.frame(pid = t$participant_id, week = t$week),
              data.frame(pid = s$participant_id, week = s$week))
  first <- tapply(ev$week, ev$pid, min)
  rtu <- people
  rtu$event <- as.numeric(!is.na(first[rtu$pid]))
  rtu$time <- ifelse(rtu$event == 1, first[rtu$pid], rtu$end)
  rtu <- rtu[rtu$time > 0, ]
  # ---- treatment dropout: the week of leaving methadone treatment (participants.csv) -------
  exit_week <- as.integer(ppl$treatment_exit_week)
  drop <- people
  drop$event <- as.numeric(!is.na(exit_week))
  drop$time <- ifelse(is.na(exit_week), drop$end, exit_week)
  drop <- drop[drop$time > 0, ]
  for (name in c("return_to_use", "treatment_dropout")) {
    d <- if (name == "return_to_use") rtu else drop
    fit <- coxph(Surv(time, event) ~ arm, data = d, ties = "efron")
    b <- coef(fit)[["armmore"]]; se <- sqrt(vcov(fit)[1, 1])
    w <- wald(b, se)
    out[[name]] <- list(log_hazard_ratio = w, hazard_ratio = exp(b), ci_lower = exp(w$ci_lower),
                        ci_upper = exp(w$ci_upper), p_value = w$p_value, n = fit$n,
                        events = as.list(tapply(d$event, d$arm, sum)),
                        person_time = as.list(tapply(d$time, d$arm, sum)))
  }
  # ---- days of any drug use: weekly drug_use_days answers over weeks 1-16 -----------------
  r <- resp[resp$instrument == "drug_use_days" & resp$item == "any_drug" & !is.na(resp$value) &
              resp$week >= 1 & resp$week <= 16, ]
  days <- tapply(r$value, r$participant_id, sum)
  answered <- tapply(r$value, r$participant_id, length)
  d <- data.frame(people, use_days = as.numeric(days[people$pid]),
                  assessed = 7 * as.numeric(answered[people$pid]))
  d <- d[!is.na(d$assessed) & d$assessed > 0, ]
  fit <- glm.nb(use_days ~ arm + offset(log(assessed)), data = d)
  s <- summary(fit)$coefficients
  b <- s["armmore", "Estimate"]; se <- s["armmore", "Std. Error"]
  w <- wald(b, se)
  out$days_of_use <- list(log_ratio = w, ratio = exp(b), ci_lower = exp(w$ci_lower),
                          ci_upper = exp(w$ci_upper), p_value = w$p_value, theta = fit$theta,
                          n = nobs(fit), coefficients = coefs(s[, "Estimate"], s[, "Std. Error"]))
  # ---- methadone adherence: % of scheduled doses taken (GEE-free check: raw % per arm) -----
  med <- rd("medications.csv")
  med <- med[med$drug == "methadone" & !is.na(med$days_scheduled), ]
  med$arm <- people$arm[match(med$participant_id, people$pid)]
  n_sched <- as.integer(med$days_scheduled); n_taken <- as.integer(med$days_taken)
  doses <- data.frame(pid = rep(med$participant_id, n_sched), arm = rep(med$arm, n_sched),
                      week = rep(as.integer(med$week), n_sched),
                      taken = unlist(mapply(function(n, k) as.numeric(seq_len(n) <= k),
                                            n_sched, n_taken, SIMPLIFY = FALSE)))
  doses <- doses[order(doses$pid, doses$week), ]
  fit <- geeglm(taken ~ arm, family = binomial, id = factor(doses$pid, levels = unique(doses$pid)),
                data = doses, corstr = "exchangeable")
  beta <- coef(fit); V <- vcov(fit)
  p_arm <- function(x) { eta <- sum(x * beta); plogis(eta) }
  g <- function(x) { p <- plogis(sum(x * beta)); p * (1 - p) * x }
  x0 <- c(1, 0); x1 <- c(1, 1)
  diff_grad <- g(x1) - g(x0)
  diff <- p_arm(x1) - p_arm(x0)
  out$methadone_adherence <- list(
    percent = list(usual_care = 100 * p_arm(x0), more = 100 * p_arm(x1)),
    difference = c(wald(100 * diff, 100 * sqrt(drop(t(diff_grad) %*% V %*% diff_grad)))),
    n = nrow(doses),
    scheduled = as.list(tapply(as.numeric(med$days_scheduled), med$arm, sum)),
    taken = as.list(tapply(as.numeric(med$days_taken), med$arm, sum)))
}

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null"), out_file)
