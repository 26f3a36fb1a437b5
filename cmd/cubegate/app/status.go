package app

import "context"

// StatusFor is the status a key of tenant reads: its own data sources
// only. The default data source's model and warehouse are shown only to
// the tenant owning it, and the model folder and the errors' texts
// (paths, file:line, addresses) only with the admin scope (full).
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
		// Errors name files, paths and addresses of the gateway's machine:
		// the admin scope reads them; others learn only that there is one.
		s.Model.Dir = ""
		if s.Model.Error != "" {
			s.Model.Error = hiddenError
		}
		if s.Warehouse.Error != "" {
			s.Warehouse.Error = "the warehouse is not available"
		}
		for i := range s.DataSources {
			if s.DataSources[i].Error != "" {
				s.DataSources[i].Error = hiddenError
			}
		}
	}
	return s
}

// hiddenError stands for an error's text in the status of a key without
// the admin scope.
const hiddenError = "see the status with an admin key for the details"
