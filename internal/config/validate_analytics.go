package config

import (
	"fmt"
	"regexp"
)

// This file validates what analytics and billing read: plans' pricing and
// the analytics settings.

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (v *validator) pricing(p string, pr *Pricing, hasQuota bool) {
	if !currencyRE.MatchString(pr.Currency) {
		v.errorf(p+".currency", "%q is not an ISO 4217 currency code such as USD or EUR", pr.Currency)
	}
	if pr.Included < 0 {
		v.errorf(p+".included", "must be 0 or more")
	}
	if len(pr.Tiers) == 0 && pr.MonthlyFee == "" {
		v.errorf(p, "a pricing needs tiers (prices per request) or a monthly_fee")
	}
	var last int64
	for i, t := range pr.Tiers {
		tp := fmt.Sprintf("%s.tiers[%d]", p, i)
		if t.Price == "" {
			v.errorf(tp+".price", "is required (write 0 for a free tier)")
		}
		switch {
		case t.UpTo < 0:
			v.errorf(tp+".up_to", "must be 1 or more, or null for the last tier")
		case t.UpTo == 0 && i != len(pr.Tiers)-1:
			v.errorf(tp+".up_to", "only the last tier may be open-ended (up_to: null)")
		case t.UpTo > 0 && t.UpTo <= last:
			v.errorf(tp+".up_to", "must be above the previous tier's up_to (%d): tiers count up from the month's first request", last)
		case t.UpTo > 0 && i == len(pr.Tiers)-1:
			v.errorf(tp+".up_to", "the last tier must have up_to: null, so that every request has a price")
		}
		last = max(last, t.UpTo)
	}
	switch pr.Overage {
	case "", "block":
	case "bill":
		if !hasQuota {
			v.errorf(p+".overage", "overage: bill needs the plan's quota, past which requests are billed instead of refused")
		}
	default:
		v.errorf(p+".overage", "%q is not block or bill", pr.Overage)
	}
}

func (v *validator) analytics(a *Analytics) {
	if a == nil || a.RetentionDays == nil {
		return
	}
	r := a.RetentionDays
	for _, f := range []struct {
		key string
		v   int64
	}{{"records", r.Records}, {"minute", r.Minute}, {"hour", r.Hour}, {"day", r.Day}} {
		if f.v < 0 || f.v > 36600 {
			v.errorf("analytics.retention_days."+f.key, "must be between 1 and 36600 days (0 or absent: the default)")
		}
	}
	if r.Hour > 0 && r.Hour < 62 {
		v.errorf("analytics.retention_days.hour", "must be at least 62: monthly statements are computed from hour rollups")
	}
}
