package server

import "net/http"

// cadenceStats answers the funnel, per-touch rates and raw counters.
func (s *Server) cadenceStats(w http.ResponseWriter, r *http.Request, _ Token) {
	rep, err := s.e.Report(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
