package app

import "context"

// StatusFor is the status a key of tenant reads: its own data sources
// only. The default data source's model and warehouse are shown only to
// the tenant owning it, and the model folder (a path on the gateway's
// disk) only with the admin scope (full).
func (g *Gateway) StatusFor(ctx context.Context, tenant string, full bool) Status {
	s := g.Status(ctx)
	var own []SourceStatus
	for _, d := range s.DataSources {
		if d.Tenant == tenant {
			own = append(own, d)
		}
	}
	s.DataSources = own
	if g.cfg.Sources()[0].Tenant != tenant {
		s.Model, s.Warehouse, s.Reloads, s.Sessions = ModelStatus{}, WarehouseStatus{}, 0, 0
		if len(own) > 0 {
			s.State = own[0].State
		}
	}
	if !full {
		s.Model.Dir = ""
	}
	return s
}
